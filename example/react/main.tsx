// The chat's React page (/react): the same app as /static/app.js, written
// with @lifeline-go/client/react's hooks only. Built into
// ../static/react/app.js by `npm run build` in client/ (esbuild); the Go
// example serves the committed build, so `go run ./example` needs no npm.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.js';

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
