package longpoll

import "time"

// This file reports the life of sessions, resets and transport failures to
// the Observer and the log. Log lines name clients by their public id and
// never carry a token or message data.

// sessionStarted reports a session negotiated here.
func (s *Server) sessionStarted(sess *Session) {
	s.obs.SessionStarted()
	s.cfg.Logger.Info("lifeline: session started", "client", sess.ID, "topics", len(sess.Topics))
}

// sessionEnded reports a session this instance ended: transport is the one
// its newest receiver here used, empty when none did.
func (s *Server) sessionEnded(r SessionRecord, transport, why string) {
	s.obs.SessionEnded(why)
	if why == SessionEndShutdown {
		return // Close logs one line for all of them
	}
	if transport == "" {
		transport = "none"
	}
	s.cfg.Logger.Info("lifeline: session ended", "client", r.ID, "transport", transport,
		"duration", s.cfg.Now().Sub(r.Created).Round(time.Millisecond).String(), "why", why)
}

// resetSent reports a client told to reset.
func (s *Server) resetSent(clientID, transport string, cause ResetCause) {
	s.obs.Reset(cause)
	s.cfg.Logger.Info("lifeline: client told to reset", "client", clientID, "transport", transport, "cause", cause.String())
}

// TransportFailed reports a transport failure a client reported at
// negotiate (PROTOCOL.md §3), for the session that negotiate created.
// Names outside the known transports and reasons are reported as "other".
func (s *Server) TransportFailed(sess *Session, transport, reason string) {
	transport, reason = knownTransport(transport), knownReason(reason)
	s.obs.TransportFailed(transport, reason)
	s.cfg.Logger.Info("lifeline: client reported a transport failure", "client", sess.ID, "transport", transport, "reason", reason)
}
