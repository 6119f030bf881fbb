/**
 * The type of an `onxxx` handler property (WebSocket's `onmessage`, RTCPeerConnection's
 * `onicecandidate`) in the SDK's structural interfaces. Declared through a method so that its
 * parameter is compared bivariantly: the DOM's handlers take the full event types (`MessageEvent`,
 * `RTCPeerConnectionIceEvent`), which a plain function type over the few fields the SDK reads would
 * refuse (TS2322), while `ws` and Node WebRTC implementations take their own.
 */
export type EventHandler<E> = { handle(event: E): void }['handle'];
