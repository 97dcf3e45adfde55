/// Who may connect, and to which topics a connected peer may produce.
///
/// A peer may connect when the allow-lists are both empty, or its uid is in
/// `allowedUids`, or its gid or one of its supplementary groups is in `allowedGids`.
/// With no topic rule a connected peer may produce to every topic; with rules it may
/// produce to a topic when some rule has a pattern matching the topic and lists the peer
/// (by uid, or by gid or supplementary group; a rule listing neither uids nor gids lists
/// everyone).
package struct Authorization: Sendable, Equatable {
    package var allowedUids: Set<UInt32>
    package var allowedGids: Set<UInt32>
    package var rules: [GatewayConfiguration.TopicRule]

    package init(allowedUids: Set<UInt32> = [], allowedGids: Set<UInt32> = [], rules: [GatewayConfiguration.TopicRule] = []) {
        self.allowedUids = allowedUids
        self.allowedGids = allowedGids
        self.rules = rules
    }

    package init(_ security: GatewayConfiguration.Security) {
        self.init(allowedUids: Set(security.allowedUids), allowedGids: Set(security.allowedGids), rules: security.topicRules)
    }

    /// Everyone may do everything.
    package static let open = Authorization()

    /// Whether the peer may connect at all.
    package func mayConnect(_ peer: PeerCredentials) -> Bool {
        if allowedUids.isEmpty && allowedGids.isEmpty { return true }
        return allowedUids.contains(peer.uid) || peer.isInAnyGroup(allowedGids)
    }

    /// Whether any decision depends on groups: only then are a peer's supplementary
    /// groups looked up when it connects.
    package var usesGroups: Bool {
        !allowedGids.isEmpty || rules.contains { !$0.gids.isEmpty }
    }

    /// The topic permissions of one connected peer, for its connection's state machine.
    package func permissions(for peer: PeerCredentials?) -> TopicPermissions {
        guard !rules.isEmpty else { return .all }
        guard let peer else { return .none }
        let mine = rules.filter { rule in
            (rule.uids.isEmpty && rule.gids.isEmpty) || rule.uids.contains(peer.uid) || peer.isInAnyGroup(rule.gids)
        }
        return TopicPermissions(patterns: mine.flatMap(\.topics))
    }
}

/// The topics one peer may produce to: a list of glob patterns (`*` matches any run of
/// characters, everything else matches itself), or everything.
package struct TopicPermissions: Sendable, Equatable {
    /// nil: every topic.
    package var patterns: [String]?

    package init(patterns: [String]?) {
        self.patterns = patterns
    }

    package static let all = TopicPermissions(patterns: nil)
    package static let none = TopicPermissions(patterns: [])

    package func allows(_ topic: String) -> Bool {
        guard let patterns else { return true }
        return patterns.contains { Self.glob($0, matches: topic) }
    }

    /// `*` matches any run of characters (including none); no other character is special.
    package static func glob(_ pattern: String, matches text: String) -> Bool {
        let p = Array(pattern.utf8)
        let t = Array(text.utf8)
        var pi = 0
        var ti = 0
        var star = -1
        var mark = 0
        while ti < t.count {
            if pi < p.count && p[pi] != UInt8(ascii: "*") && p[pi] == t[ti] {
                pi += 1
                ti += 1
            } else if pi < p.count && p[pi] == UInt8(ascii: "*") {
                star = pi
                mark = ti
                pi += 1
            } else if star >= 0 {
                pi = star + 1
                mark += 1
                ti = mark
            } else {
                return false
            }
        }
        while pi < p.count && p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.count
    }
}
