import SluiceProtocol
import Testing

@Suite("SluiceProtocolError.Code")
struct SluiceProtocolErrorCodeTests {
    @Test("each code is named as before the codes were a struct, and the names are distinct")
    func names() {
        let named: [(SluiceProtocolError.Code, String)] = [
            (.malformed, "malformed"), (.invalidString, "invalidString"), (.unknownEnumValue, "unknownEnumValue"),
            (.frameTooLarge, "frameTooLarge"), (.unencodable, "unencodable"),
        ]
        for (code, name) in named { #expect(code.description == name) }
        #expect(Set(named.map(\.0)).count == SluiceProtocolError.Code.Base.allCases.count)
        #expect(SluiceProtocolError(.malformed, ref: 4, "bad varint").description == "malformed: bad varint")
    }

    @Test("a library user matches codes with == and with a switch that has a default; the reply code follows")
    func matching() {
        let error = SluiceProtocolError(.frameTooLarge, "claims 2 GiB")
        #expect(error.code == .frameTooLarge)
        let tooBig: Bool
        switch error.code {
        case .frameTooLarge: tooBig = true
        default: tooBig = false
        }
        #expect(tooBig)
        #expect(error.replyCode == .frameTooLarge)
        #expect(SluiceProtocolError(.malformed, "x").replyCode == .invalidRequest)
    }
}
