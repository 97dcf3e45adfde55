import Crypto
import _CryptoExtras

/// The client side of SCRAM (RFC 5802; SHA-256 per RFC 7677, SHA-512 likewise), as Kafka
/// uses it: no channel binding (`n,,`), no authorization id, no extensions.
///
/// A plain state machine without I/O: each step takes the server's message and returns
/// the next one to send, so the whole exchange is testable byte for byte.
///
///     var scram = ScramClient(hash: .sha256, username: "user", password: "pencil")
///     let first = try scram.clientFirstMessage()                      // to the server
///     let final = try scram.clientFinalMessage(serverFirst: reply1)   // to the server
///     try scram.verifyServerFinal(reply2)                             // mutual auth done
///
/// Every failure is a `KafkaClientError` with code `.authentication`, and leaves the
/// client failed: later steps throw too.
///
/// What it checks of the server, since a SCRAM client must not trust it blindly:
/// - the combined nonce starts with our nonce and adds to it (RFC 5802 §5.1, `r`), so an
///   answer replayed from another exchange is refused;
/// - the iteration count lies in `iterationLimits`: too few makes a captured exchange
///   cheap to brute-force, too many lets a hostile server burn our CPU;
/// - no mandatory extension (`m=`), which we could not honour;
/// - the server signature in server-final (`v=`), compared in constant time: a server
///   that does not know the password's derived keys cannot produce it, so this is what
///   authenticates the broker to us.
///
/// User name and password are used as UTF-8 without SASLprep, as Kafka's Java client does;
/// the user name is escaped as saslname (`=` → `=3D`, `,` → `=2C`).
///
/// - Note: Tested against the RFC 7677 example and Python's scramp server, not against a
///   live broker (the test brokers here speak no SASL).
struct ScramClient: Sendable {
    /// The hash function of the mechanism.
    enum Hash: Sendable, Hashable {
        case sha256
        case sha512

        /// The SASL mechanism name.
        var mechanism: String {
            switch self {
            case .sha256: "SCRAM-SHA-256"
            case .sha512: "SCRAM-SHA-512"
            }
        }
    }

    /// Iteration counts accepted by default: Kafka's own floor (4096, also RFC 7677's
    /// minimum for SHA-256) up to a ceiling far above what brokers use (Kafka caps stored
    /// credentials at 16384) that still bounds the work to well under a second.
    static let defaultIterationLimits: ClosedRange<Int> = 4096...1_000_000

    private enum State: Sendable {
        case initial
        case sentClientFirst(clientFirstBare: String)
        case sentClientFinal(serverSignature: [UInt8])
        case authenticated
        case failed
    }

    let hash: Hash
    let username: String
    private let password: String
    /// Our half of the nonce: printable ASCII without commas.
    let clientNonce: String
    let iterationLimits: ClosedRange<Int>
    private var state: State = .initial

    /// Creates a client for one exchange.
    /// - Parameters:
    ///   - clientNonce: our nonce; random unless a test injects one.
    ///   - iterationLimits: the iteration counts a server may ask for.
    init(
        hash: Hash, username: String, password: String, clientNonce: String? = nil,
        iterationLimits: ClosedRange<Int> = ScramClient.defaultIterationLimits
    ) {
        self.hash = hash
        self.username = username
        self.password = password
        self.clientNonce = clientNonce ?? Self.makeNonce()
        self.iterationLimits = iterationLimits
    }

    /// True once the server's signature has been verified.
    var isAuthenticated: Bool {
        if case .authenticated = state { return true }
        return false
    }

    /// The GS2 header: no channel binding, no authorization id.
    private static let gs2Header = "n,,"

    /// Step 1: `n,,n=<saslname>,r=<client nonce>`.
    mutating func clientFirstMessage() throws(KafkaClientError) -> [UInt8] {
        guard case .initial = state else { throw fail("client-first requested twice") }
        guard !username.utf8.contains(0) else { throw fail("the user name contains a NUL character") }
        guard !clientNonce.isEmpty, clientNonce.utf8.allSatisfy(Self.isNonceCharacter) else {
            throw fail("the client nonce must be printable ASCII without commas")
        }
        let bare = "n=\(Self.saslName(username)),r=\(clientNonce)"
        state = .sentClientFirst(clientFirstBare: bare)
        return Array((Self.gs2Header + bare).utf8)
    }

    /// Step 2: checks server-first (`r=...,s=...,i=...`) and returns client-final
    /// (`c=biws,r=<nonce>,p=<proof>`).
    mutating func clientFinalMessage(serverFirst: [UInt8]) throws(KafkaClientError) -> [UInt8] {
        guard case .sentClientFirst(let clientFirstBare) = state else {
            throw fail("server-first received out of order")
        }
        guard let serverFirstText = String(validating: serverFirst, as: UTF8.self) else {
            throw fail("server-first is not UTF-8")
        }
        let attributes = try parseAttributes(serverFirstText, "server-first")
        if attributes.first?.name == "m" {
            throw fail("the server requires a SCRAM extension Sluice does not support")
        }
        if attributes.first?.name == "e" {
            throw fail("the server reported: \(attributes[0].value)")
        }
        // RFC 5802 §5.1 fixes the order r, s, i; extensions may follow and are ignored.
        guard attributes.count >= 3, attributes[0].name == "r", attributes[1].name == "s", attributes[2].name == "i" else {
            throw fail("server-first is not r=...,s=...,i=...: \(serverFirstText)")
        }
        let nonce = attributes[0].value
        guard nonce.hasPrefix(clientNonce), nonce.utf8.count > clientNonce.utf8.count,
            nonce.utf8.allSatisfy(Self.isNonceCharacter)
        else {
            throw fail("the server's nonce does not extend the client's nonce")
        }
        guard let salt = Base64.decode(attributes[1].value), !salt.isEmpty else {
            throw fail("the salt is not base64")
        }
        guard let iterations = Int(attributes[2].value), iterations > 0 else {
            throw fail("the iteration count \(attributes[2].value) is not a positive number")
        }
        guard iterationLimits.contains(iterations) else {
            throw fail(
                "the server asks for \(iterations) iterations, outside the accepted \(iterationLimits.lowerBound)...\(iterationLimits.upperBound)"
            )
        }

        let withoutProof = "c=\(Base64.encode(Self.gs2Header.utf8)),r=\(nonce)"
        let authMessage = Array("\(clientFirstBare),\(serverFirstText),\(withoutProof)".utf8)
        let keys: (proof: [UInt8], serverSignature: [UInt8])
        switch hash {
        case .sha256: keys = try derive(SHA256.self, .sha256, salt: salt, iterations: iterations, authMessage: authMessage)
        case .sha512: keys = try derive(SHA512.self, .sha512, salt: salt, iterations: iterations, authMessage: authMessage)
        }
        state = .sentClientFinal(serverSignature: keys.serverSignature)
        return Array("\(withoutProof),p=\(Base64.encode(keys.proof))".utf8)
    }

    /// Step 3: checks server-final (`v=<server signature>`, or `e=<error>`).
    mutating func verifyServerFinal(_ serverFinal: [UInt8]) throws(KafkaClientError) {
        guard case .sentClientFinal(let expected) = state else {
            throw fail("server-final received out of order")
        }
        guard let text = String(validating: serverFinal, as: UTF8.self) else {
            throw fail("server-final is not UTF-8")
        }
        let attributes = try parseAttributes(text, "server-final")
        guard let first = attributes.first else { throw fail("server-final is empty") }
        switch first.name {
        case "e":
            throw fail("the server refused the proof: \(first.value)")
        case "v":
            guard let signature = Base64.decode(first.value) else { throw fail("the server signature is not base64") }
            guard Self.constantTimeEqual(signature, expected) else {
                // The server does not know the credentials (or the exchange was altered):
                // it is not the broker we meant to authenticate.
                throw fail("the server's signature does not match: the broker could not prove it knows the credentials")
            }
            state = .authenticated
        default:
            throw fail("server-final is neither v=... nor e=...: \(text)")
        }
    }

    // MARK: internals

    /// SaltedPassword, ClientProof and ServerSignature of RFC 5802 §3.
    private func derive<H: HashFunction>(
        _: H.Type, _ kdfHash: KDF.Insecure.PBKDF2.HashFunction, salt: [UInt8], iterations: Int, authMessage: [UInt8]
    ) throws(KafkaClientError) -> (proof: [UInt8], serverSignature: [UInt8]) {
        // Hi() of RFC 5802 is PBKDF2 with HMAC as PRF and one hash-sized block.
        // "Unchecked" only means swift-crypto's own 210,000-round floor (meant for
        // password storage) is skipped; the server picks the count and we bound it above.
        let saltedPassword: SymmetricKey
        do {
            saltedPassword = try KDF.Insecure.PBKDF2.deriveKey(
                from: Array(password.utf8), salt: salt, using: kdfHash, outputByteCount: H.Digest.byteCount,
                unsafeUncheckedRounds: iterations)
        } catch {
            throw KafkaClientError(.authentication, "SCRAM: cannot derive the salted password: \(error)")
        }
        let clientKey = Array(HMAC<H>.authenticationCode(for: Array("Client Key".utf8), using: saltedPassword))
        let storedKey = SymmetricKey(data: Array(H.hash(data: clientKey)))
        let clientSignature = Array(HMAC<H>.authenticationCode(for: authMessage, using: storedKey))
        let proof = zip(clientKey, clientSignature).map { $0 ^ $1 }
        let serverKey = SymmetricKey(data: Array(HMAC<H>.authenticationCode(for: Array("Server Key".utf8), using: saltedPassword)))
        let serverSignature = Array(HMAC<H>.authenticationCode(for: authMessage, using: serverKey))
        return (proof, serverSignature)
    }

    private struct Attribute {
        var name: Character
        var value: Substring
    }

    /// Splits `a=...,b=...` into attributes; each name is one ASCII letter.
    private mutating func parseAttributes(_ text: String, _ what: String) throws(KafkaClientError) -> [Attribute] {
        var out: [Attribute] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard part.count >= 2, let name = part.first, name.isASCII, name.isLetter,
                part[part.index(after: part.startIndex)] == "="
            else {
                throw fail("\(what) is malformed: \(text)")
            }
            out.append(Attribute(name: name, value: part.dropFirst(2)))
        }
        return out
    }

    /// Marks the exchange failed and builds the error.
    private mutating func fail(_ reason: String) -> KafkaClientError {
        state = .failed
        return KafkaClientError(.authentication, "\(hash.mechanism): \(reason)")
    }

    /// saslname of RFC 5802 §5.1: `=` and `,` would end the attribute, so they are escaped.
    static func saslName(_ name: String) -> String {
        var out = ""
        for c in name {
            switch c {
            case "=": out += "=3D"
            case ",": out += "=2C"
            default: out.append(c)
            }
        }
        return out
    }

    /// printable of RFC 5802 §7: %x21-2B / %x2D-7E.
    private static func isNonceCharacter(_ c: UInt8) -> Bool {
        (0x21...0x7E).contains(c) && c != UInt8(ascii: ",")
    }

    /// 24 random bytes from the system's secure generator, base64: 32 characters, none a
    /// comma.
    static func makeNonce() -> String {
        var generator = SystemRandomNumberGenerator()
        return Base64.encode((0..<24).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    /// Compares without an early exit, so timing does not tell how much matched.
    private static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }
}
