/**
 * @lifeline-go/client/react — React bindings of the Lifeline client: one
 * shared client per <LifelineProvider>, hooks over useSyncExternalStore.
 * React (18 or later) is a peer dependency; nothing else is needed.
 */
export { LifelineProvider, type LifelineProviderProps } from './provider.js';
export { useChat, type Chat } from './chat.js';
export { useClient, useConnection, useHistory, usePresence, useSend, useTopic, useTopicRefusal, type HistoryState, type Sender } from './hooks.js';
export type { ChatMessage, ChatOptions, TypingUser } from './chat-store.js';
export type { Connection, HubOptions } from './hub.js';
