// Resuming a run happens in the Train screen: bring it into view (and focus, for keyboard and
// screen-reader users) as the run starts there.

export function showTrainScreen(): void {
  const train = document.getElementById('train');
  train?.focus({ preventScroll: true });
  train?.scrollIntoView({ block: 'start', behavior: matchMedia('(prefers-reduced-motion: reduce)').matches ? 'auto' : 'smooth' });
}
