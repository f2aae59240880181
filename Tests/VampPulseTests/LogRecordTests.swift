import Foundation
import HAProxyConfigGen
import PropertyBased
import Testing
import VampPulse
import VampTesting

@Suite struct LogRecordTests {
    static let http = #"{"ci":"127.0.0.1","cp":50412,"t":"06/Dec/2026:11:30:00.123","ft":"a1b2","b":"o_a1b2","s":"c3d4","Tq":0,"Tw":0,"Tc":1,"Tr":12,"Tt":13,"ST":503,"B":120,"CC":"","CS":"","tsc":"----","ac":1,"fc":1,"bc":0,"sc":0,"rc":0,"sq":0,"bq":0,"hr":"","hs":"","r":"GET /x HTTP/1.1"}"#
    static let tcp = #"{"ci":"127.0.0.1","cp":50412,"t":"06/Dec/2026:11:30:00.123","ft":"e5","b":"e5","s":"f6","Tw":0,"Tc":0,"Tt":250,"B":4096,"ts":"--","ac":1,"fc":1,"bc":0,"sc":0,"rc":0,"sq":0,"bq":0}"#

    @Test func readsAnHTTPLine() throws {
        let record = try #require(LogRecord.parse(Self.http))
        #expect(record.key == PulseKey(frontend: "a1b2", backend: "o_a1b2", server: "c3d4"))
        #expect(record.totalTime == 13)
        #expect(record.serverTime == 12)
        #expect(record.status == 503)
        #expect(record.bytes == 120)
    }

    @Test func readsATCPLine() throws {
        let record = try #require(LogRecord.parse(Self.tcp))
        #expect(record.key.frontend == "e5")
        #expect(record.totalTime == 250)
        #expect(record.serverTime == nil)
        #expect(record.status == nil)
    }

    /// The fields the format of `HAProxyConfigGen` writes are the ones the parser reads.
    @Test func theGeneratedFormatNamesTheFieldsRead() {
        for field in ["ft", "b", "s", "Tt", "Tr", "ST", "B"] {
            #expect(LogFormat.http.contains("\\\"\(field)\\\":"), "\(field) in the http log-format")
        }
        for field in ["ft", "b", "s", "Tt", "B"] {
            #expect(LogFormat.tcp.contains("\\\"\(field)\\\":"), "\(field) in the tcp log-format")
        }
    }

    @Test func refusesWhatIsNotALogLine() {
        let cut = String(Self.http.prefix(120))
        for line in ["", "{}", "garbage", "{\"ft\":\"a\"}", cut, Self.http + "x", "[1,2]", "{\"ft\":1,\"b\":\"x\",\"s\":\"y\",\"Tt\":1}",
                     "{\"ft\":\"a\",\"b\":\"x\",\"s\":\"y\",\"Tt\":99999999999999999999999}", String(repeating: "{", count: 100_000)] {
            #expect(LogRecord.parse(line) == nil, "\(line.prefix(60))")
        }
        let huge = "{\"ft\":\"a\",\"b\":\"x\",\"s\":\"y\",\"Tt\":1,\"hr\":\"" + String(repeating: "a", count: LogRecord.maximumLength) + "\"}"
        #expect(LogRecord.parse(huge) == nil)
    }

    @Test func readsANegativeTimeAsHAProxyWritesIt() throws {
        let record = try #require(LogRecord.parse(Self.http.replacingOccurrences(of: "\"Tr\":12", with: "\"Tr\":-1")))
        #expect(record.serverTime == -1)
        var figures = PulseFigures()
        figures.record(record)
        #expect(figures.serverTime.count == 0)
        #expect(figures.totalTime.count == 1)
    }

    /// Any bytes at all: an answer or `nil`, never a trap.
    @Test func neverTrapsOnAnyBytes() async {
        await propertyCheck(count: 2000, input: Gen.int(in: 0...Int.max)) { seed in
            var random = SeededRandom(seed: UInt64(seed))
            let bytes = (0..<random.below(300)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            _ = bytes.withUnsafeBufferPointer { LogRecord.parse(bytes: $0) }
            var mutated = Array(Self.http.utf8)
            for byte in bytes.prefix(8) { mutated[random.below(mutated.count)] = byte }
            _ = mutated.withUnsafeBufferPointer { LogRecord.parse(bytes: $0) }
        }
    }
}
