import Testing

@testable import KafkaProducer

/// The RFC 7677 §3 example exchange (SCRAM-SHA-256): user "user", password "pencil".
enum RFC7677 {
    static let clientNonce = "rOprNGfwEbeRWgbNEkqO"
    static let clientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    static let serverFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    static let clientFinal =
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    static let serverFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
}

/// The same inputs with SCRAM-SHA-512, which has no RFC example: these messages were
/// produced by Python's scramp 1.5.0 (client and server, nonces and salt fixed) and agree
/// with the interop test against it (IntegrationTests/Sasl).
enum Scramp512 {
    static let clientFinal =
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=gMGXRcevScNtxZ6/8lQYpGtnsNAc3mGcmNomv+xnoOMw+3R2xNJdMNnzMlTN8PPC6wdp6dybEmDYXYTxwnYPJQ=="
    static let serverFinal =
        "v=ZQnYEgWQMFmmsM8aQMF0nDDCy/AgCzkwk8CmMZYcMg0vSVlKDanekLtifDSeVGT4+5ZxXnJq199RVG2rR7N7Zw=="
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// The error a throwing step produced, or nil (recorded as an issue) if it did not throw.
func scramError(_ body: () throws(KafkaClientError) -> Void) -> KafkaClientError? {
    do {
        try body()
        Issue.record("expected an error")
        return nil
    } catch {
        return error
    }
}

@Suite struct ScramClientTests {
    func rfcClient() -> ScramClient {
        ScramClient(hash: .sha256, username: "user", password: "pencil", clientNonce: RFC7677.clientNonce)
    }

    /// A client that has sent client-first of the RFC example.
    func started(iterationLimits: ClosedRange<Int> = ScramClient.defaultIterationLimits) throws -> ScramClient {
        var c = ScramClient(
            hash: .sha256, username: "user", password: "pencil", clientNonce: RFC7677.clientNonce,
            iterationLimits: iterationLimits)
        _ = try c.clientFirstMessage()
        return c
    }

    @Test func rfc7677ExampleByteForByte() throws {
        var c = rfcClient()
        #expect(try c.clientFirstMessage() == bytes(RFC7677.clientFirst))
        #expect(try c.clientFinalMessage(serverFirst: bytes(RFC7677.serverFirst)) == bytes(RFC7677.clientFinal))
        #expect(!c.isAuthenticated)
        try c.verifyServerFinal(bytes(RFC7677.serverFinal))
        #expect(c.isAuthenticated)
    }

    @Test func sha512MatchesScramp() throws {
        var c = ScramClient(hash: .sha512, username: "user", password: "pencil", clientNonce: RFC7677.clientNonce)
        #expect(try c.clientFirstMessage() == bytes(RFC7677.clientFirst))
        #expect(try c.clientFinalMessage(serverFirst: bytes(RFC7677.serverFirst)) == bytes(Scramp512.clientFinal))
        try c.verifyServerFinal(bytes(Scramp512.serverFinal))
        #expect(c.isAuthenticated)
    }

    @Test func wrongPasswordGivesAnotherProof() throws {
        var c = ScramClient(hash: .sha256, username: "user", password: "pencil!", clientNonce: RFC7677.clientNonce)
        _ = try c.clientFirstMessage()
        let final = try c.clientFinalMessage(serverFirst: bytes(RFC7677.serverFirst))
        #expect(final != bytes(RFC7677.clientFinal))
        // ...and the real server's signature does not match what this password derives.
        let e = scramError { () throws(KafkaClientError) in try c.verifyServerFinal(bytes(RFC7677.serverFinal)) }
        #expect(e?.code == .authentication)
    }

    @Test func serverSignatureMismatchIsAnAuthenticationError() throws {
        var c = try started()
        _ = try c.clientFinalMessage(serverFirst: bytes(RFC7677.serverFirst))
        // One bit off in the signature.
        let forged = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl96G4="
        let e = scramError { () throws(KafkaClientError) in try c.verifyServerFinal(bytes(forged)) }
        #expect(e?.code == .authentication)
        #expect(e?.message.contains("signature does not match") == true)
        #expect(!c.isAuthenticated)
        // A failed exchange stays failed.
        let again = scramError { () throws(KafkaClientError) in try c.verifyServerFinal(bytes(RFC7677.serverFinal)) }
        #expect(again?.code == .authentication)
        #expect(!c.isAuthenticated)
    }

    @Test(arguments: [
        "v=", "v=!!!!", "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4", "x=abc", "", "garbage",
    ])
    func malformedServerFinalIsRefused(_ final: String) throws {
        var c = try started()
        _ = try c.clientFinalMessage(serverFirst: bytes(RFC7677.serverFirst))
        let e = scramError { () throws(KafkaClientError) in try c.verifyServerFinal(bytes(final)) }
        #expect(e?.code == .authentication)
    }

    @Test func serverErrorInServerFinalIsReported() throws {
        var c = try started()
        _ = try c.clientFinalMessage(serverFirst: bytes(RFC7677.serverFirst))
        let e = scramError { () throws(KafkaClientError) in try c.verifyServerFinal(bytes("e=invalid-proof")) }
        #expect(e?.code == .authentication)
        #expect(e?.message.contains("invalid-proof") == true)
    }

    @Test func serverNonceMustExtendTheClientNonce() throws {
        let salt = "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        for nonce in [
            "XOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj",  // another client nonce
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",  // server part only
            RFC7677.clientNonce,  // nothing added by the server
            "rOprNGfwEbeRWgbNEkq",  // a prefix of ours
        ] {
            var c = try started()
            let e = scramError { () throws(KafkaClientError) in
                _ = try c.clientFinalMessage(serverFirst: bytes("r=\(nonce),\(salt)"))
            }
            #expect(e?.code == .authentication, "nonce \(nonce)")
            #expect(e?.message.contains("nonce") == true)
        }
    }

    @Test func iterationCountBelowTheFloorIsRefused() throws {
        var c = try started()
        let e = scramError { () throws(KafkaClientError) in
            _ = try c.clientFinalMessage(serverFirst: bytes("r=\(RFC7677.clientNonce)xyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4095"))
        }
        #expect(e?.code == .authentication)
        #expect(e?.message.contains("4095 iterations") == true)
    }

    @Test func iterationCountAboveTheCeilingIsRefusedWithoutWork() throws {
        var c = try started()
        let e = scramError { () throws(KafkaClientError) in
            _ = try c.clientFinalMessage(serverFirst: bytes("r=\(RFC7677.clientNonce)xyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=2000000000"))
        }
        #expect(e?.code == .authentication)
    }

    @Test func iterationLimitsAreConfigurable() throws {
        var c = try started(iterationLimits: 8192...16384)
        let e = scramError { () throws(KafkaClientError) in
            _ = try c.clientFinalMessage(serverFirst: bytes(RFC7677.serverFirst))
        }
        #expect(e?.code == .authentication)
        #expect(ScramClient.defaultIterationLimits.lowerBound == 4096)
    }

    @Test(arguments: [
        "m=ext,r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",  // mandatory extension
        "r=rOprNGfwEbeRWgbNEkqOabc,i=4096,s=W22ZaJ0SNY7soEsUEjb6gQ==",  // wrong order
        "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==",  // no count
        "r=rOprNGfwEbeRWgbNEkqOabc,s=not base64,i=4096",
        "r=rOprNGfwEbeRWgbNEkqOabc,s=,i=4096",  // empty salt
        "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4k",
        "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-4096",
        "r=rOprNGfwEbeRWgbNEkqOabc,,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",  // empty attribute
        "e=other-error",
        "",
    ])
    func malformedServerFirstIsRefused(_ serverFirst: String) throws {
        var c = try started()
        let e = scramError { () throws(KafkaClientError) in _ = try c.clientFinalMessage(serverFirst: bytes(serverFirst)) }
        #expect(e?.code == .authentication)
    }

    @Test func serverFirstMayCarryExtensionsAfterTheCount() throws {
        var c = try started()
        let final = try c.clientFinalMessage(serverFirst: bytes(RFC7677.serverFirst + ",x=ignored"))
        #expect(final.starts(with: bytes("c=biws,r=\(RFC7677.clientNonce)")))
    }

    @Test func serverFirstThatIsNotUTF8IsRefused() throws {
        var c = try started()
        let e = scramError { () throws(KafkaClientError) in
            _ = try c.clientFinalMessage(serverFirst: bytes("r=\(RFC7677.clientNonce)a,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096") + [0xFF])
        }
        #expect(e?.code == .authentication)
    }

    @Test func userNameIsEscapedAsSaslName() throws {
        #expect(ScramClient.saslName("a=b,c") == "a=3Db=2Cc")
        #expect(ScramClient.saslName("==,,") == "=3D=3D=2C=2C")
        #expect(ScramClient.saslName("plain") == "plain")
        #expect(ScramClient.saslName("ünï") == "ünï")
        var c = ScramClient(hash: .sha256, username: "a=b,c", password: "pw", clientNonce: "abc")
        #expect(try c.clientFirstMessage() == bytes("n,,n=a=3Db=2Cc,r=abc"))
    }

    @Test func stepsOutOfOrderAreRefused() throws {
        var fresh = rfcClient()
        let e1 = scramError { () throws(KafkaClientError) in _ = try fresh.clientFinalMessage(serverFirst: bytes(RFC7677.serverFirst)) }
        #expect(e1?.code == .authentication)

        var c = try started()
        let e2 = scramError { () throws(KafkaClientError) in _ = try c.clientFirstMessage() }
        #expect(e2?.code == .authentication)

        var d = try started()
        let e3 = scramError { () throws(KafkaClientError) in try d.verifyServerFinal(bytes(RFC7677.serverFinal)) }
        #expect(e3?.code == .authentication)
    }

    @Test(arguments: ["", "a,b", "with space", "tab\t"])
    func invalidInjectedNonceIsRefused(_ nonce: String) {
        var c = ScramClient(hash: .sha256, username: "user", password: "pencil", clientNonce: nonce)
        let e = scramError { () throws(KafkaClientError) in _ = try c.clientFirstMessage() }
        #expect(e?.code == .authentication)
    }

    @Test func userNameWithNULIsRefused() {
        var c = ScramClient(hash: .sha256, username: "a\u{0}b", password: "pencil")
        let e = scramError { () throws(KafkaClientError) in _ = try c.clientFirstMessage() }
        #expect(e?.code == .authentication)
    }

    @Test func randomNoncesAreFreshPrintableAndCommaFree() throws {
        var seen = Set<String>()
        for _ in 0..<100 {
            let n = ScramClient.makeNonce()
            #expect(n.utf8.count == 32)
            #expect(n.utf8.allSatisfy { (0x21...0x7E).contains($0) && $0 != UInt8(ascii: ",") })
            seen.insert(n)
        }
        #expect(seen.count == 100)
        var c = ScramClient(hash: .sha512, username: "u", password: "p")
        let first = String(decoding: try c.clientFirstMessage(), as: UTF8.self)
        #expect(first == "n,,n=u,r=\(c.clientNonce)")
    }
}

@Suite struct Base64Tests {
    @Test func rfc4648Vectors() {
        let vectors = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors {
            #expect(Base64.encode(Array(plain.utf8)) == encoded)
            #expect(Base64.decode(encoded) == Array(plain.utf8))
        }
    }

    @Test func allByteValuesRoundTrip() {
        for length in 0..<70 {
            let data = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            #expect(Base64.decode(Base64.encode(data)) == data)
        }
        let all = Array(0...255).map(UInt8.init)
        #expect(Base64.decode(Base64.encode(all)) == all)
    }

    @Test(arguments: ["Zg=", "Zg", "Z===", "=Zg=", "Zg==Zg==", "Zm9v!", "Zm 9v", "Zm9v\n", "Zg=a", "Zh==", "Zm9=", "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G5="])
    func malformedInputIsRejected(_ text: String) {
        #expect(Base64.decode(text) == nil)
    }
}
