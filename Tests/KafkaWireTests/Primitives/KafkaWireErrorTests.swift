import KafkaWire
import Testing

@Suite("KafkaWireError.Code")
struct KafkaWireErrorCodeTests {
    @Test("each code is named as before the codes were a struct, and the names are distinct")
    func names() {
        let named: [(KafkaWireError.Code, String)] = [
            (.truncated, "truncated"), (.invalidLength, "invalidLength"), (.invalidString, "invalidString"),
            (.unsupportedVersion, "unsupportedVersion"), (.crcMismatch, "crcMismatch"),
            (.invalidRecordBatch, "invalidRecordBatch"), (.compression, "compression"),
        ]
        for (code, name) in named { #expect(code.description == name) }
        #expect(Set(named.map(\.0)).count == KafkaWireError.Code.Base.allCases.count)
        #expect(KafkaWireError(.crcMismatch, "batch at 7").description == "crcMismatch: batch at 7")
    }

    @Test("a library user matches codes with == and with a switch that has a default")
    func matching() {
        let error = KafkaWireError(.truncated, "short")
        #expect(error.code == .truncated)
        let kind: String
        switch error.code {
        case .truncated: kind = "truncated"
        case .crcMismatch: kind = "crc"
        default: kind = "other"
        }
        #expect(kind == "truncated")
    }
}
