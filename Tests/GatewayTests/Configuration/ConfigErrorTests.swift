import Gateway
import Testing

@Suite("ConfigError.Code")
struct ConfigErrorCodeTests {
    @Test("each code is named as before the codes were a struct, and the names are distinct")
    func names() {
        let named: [(ConfigError.Code, String)] = [
            (.unreadable, "unreadable"), (.syntax, "syntax"), (.unknownKey, "unknownKey"),
            (.wrongType, "wrongType"), (.invalidValue, "invalidValue"), (.missing, "missing"),
        ]
        for (code, name) in named { #expect(code.description == name) }
        #expect(Set(named.map(\.0)).count == ConfigError.Code.Base.allCases.count)
        #expect(
            ConfigError(.unknownKey, key: "kafka.brokerz", "no such option").description
                == "configuration error (unknownKey) at kafka.brokerz: no such option")
    }

    @Test("a library user matches codes with == and with a switch that has a default")
    func matching() {
        let error = ConfigError(.missing, key: "kafka.brokers", "required")
        #expect(error.code == .missing)
        let fixable: Bool
        switch error.code {
        case .missing, .invalidValue: fixable = true
        default: fixable = false
        }
        #expect(fixable)
    }
}
