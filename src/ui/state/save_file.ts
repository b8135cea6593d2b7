// Saving what the engine produced as a file the browser downloads. A Blob may be a disk-backed
// File from the Origin Private File System (a merged model of several GB): an object URL lets
// the browser stream it to disk without reading it into memory here.

export function downloadBlob(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.style.display = 'none';
  document.body.append(a);
  a.click();
  a.remove();
  // The click has started the download; the URL may go once the browser has read it.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
