import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';

import 'uplot/dist/uPlot.min.css';
import './styles/app.css';

import { App } from './App';
import { HttpSource } from './lib/httpSource';
import type { DataSource } from './lib/source';
import { initToken, isDemo, saveToken, sessionStore } from './lib/token';

const storage = sessionStore();
// Runs before anything else, so a token leaves the address bar at once (in demo mode too).
const token = initToken(window.location, storage, window.history);
// Demo mode (src/demo/) is a separate chunk: only `?demo=1` downloads it.
const source: DataSource = isDemo(window.location.search)
  ? (await import('./demo')).createDemoSource()
  : new HttpSource(token);

const onToken = (value: string) => {
  saveToken(storage, value);
  source.setToken(value);
};

const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <App source={source} onToken={onToken} />
    </StrictMode>,
  );
}
