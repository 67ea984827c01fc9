import { createContext, createElement, useContext, useEffect, useState, type ReactNode } from 'react';
import { Hub, type HubOptions } from './hub.js';

const HubContext = createContext<Hub | null>(null);

/** Props of LifelineProvider: the client's options, and the tree that shares it. */
export interface LifelineProviderProps extends HubOptions {
  children?: ReactNode;
}

/**
 * Owns one Lifeline client for its tree: every hook below shares its one
 * connection. The options are read when it mounts; to connect differently
 * (another url, a new `meta`), remount it with a new `key`. The client is
 * created and started after the first mount, and closed (ending the
 * session: DELETE session) after the unmount, so StrictMode's double mount
 * leaves exactly one session. The topics of the hooks below are merged
 * with `topics` and negotiated together.
 */
export function LifelineProvider({ children, ...options }: LifelineProviderProps) {
  const [hub] = useState(() => new Hub(options)); // the constructor starts nothing
  useEffect(() => {
    hub.acquire();
    return () => hub.release();
  }, [hub]);
  return createElement(HubContext.Provider, { value: hub }, children);
}

/** The provider's hub; throws outside a LifelineProvider. */
export function useHub(): Hub {
  const hub = useContext(HubContext);
  if (!hub) throw new Error('lifeline: this hook must be used inside <LifelineProvider>');
  return hub;
}
