import Testing

@testable import sluice

@Suite("sluice produce: the progress line")
struct ProgressLineTests {
    @Test("half way through a file: bar, percent, bytes, rate and the time left at that rate")
    func halfWay() {
        let line = ProgressLine(total: 2 * 1024 * 1024, unit: .bytes, width: 10)
        let text = line.render(done: 1024 * 1024, records: 5000, elapsedSeconds: 10)
        #expect(text == "[#####.....]  50% 1.0 MiB/2.0 MiB  500 rec/s  ETA 0:10")
    }

    @Test("records as the unit (--count); done; nothing yet")
    func records() {
        let line = ProgressLine(total: 400, unit: .records, width: 4)
        #expect(line.render(done: 100, records: 100, elapsedSeconds: 2) == "[#...]  25% 100/400 records  50 rec/s  ETA 0:06")
        #expect(line.render(done: 400, records: 400, elapsedSeconds: 4) == "[####] 100% 400/400 records  100 rec/s  ETA 0:00")
        #expect(line.render(done: 0, records: 0, elapsedSeconds: 0) == "[....]   0% 0/400 records  0 rec/s  ETA --:--")
    }

    @Test("clock and byte units")
    func units() {
        #expect(ProgressLine.clock(59.2) == "1:00")
        #expect(ProgressLine.clock(3725) == "1:02:05")
        #expect(ProgressLine.bytes(1023) == "1023 B")
        #expect(ProgressLine.bytes(1536) == "1.5 KiB")
        #expect(ProgressLine.bytes(3 * 1024 * 1024 * 1024) == "3.0 GiB")
    }
}
