import * as Comlink from 'comlink';
import { mount } from 'svelte';
import App from './ui/App.svelte';
import './ui/app.css';
import { GpuState } from './ui/gpu/gpu_state.svelte.ts';
import { Preferences } from './ui/shell/preferences.svelte.ts';
import { AppState } from './ui/state/app_state.svelte.ts';
import { createEngineClient } from './worker/client.ts';

// The page's entry point: start the engine worker, build the UI state around it, show the app.
const client = createEngineClient();
const gpu = new GpuState(
  () => client.engine.probeGpu(),
  (onLost) => client.engine.watchDeviceLoss(Comlink.proxy(onLost)),
);
const prefs = new Preferences();
const app = new AppState(client.engine);

const target = document.getElementById('app');
if (!target) throw new Error('index.html lost its #app element');
mount(App, { target, props: { gpu, prefs, app } });
void gpu.check();
void app.init();
