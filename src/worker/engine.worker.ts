import * as Comlink from 'comlink';
import { Engine } from './engine.ts';

// The module worker the UI talks to (client.ts). Everything GPU happens here, so the page's main
// thread stays free for the UI while kernels are recorded and results awaited.
Comlink.expose(new Engine());
