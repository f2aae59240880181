// Release-mode timing of the user-facing figures. Run:
//   swift run -c release --package-path Benchmarks vamp-benchmarks dsl [--documents 10000] [--rounds 5]
// Prints artifacts per second (best and median of the rounds) and the peak resident memory.
import Foundation
import VampDSL
import HAProxyConfigGen
import VampModel
import Yams

func peakResidentMegabytes() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "") else { return .nan }
    return kilobytes / 1024
}

/// A blueprint about the size of a real one: two clusters, a canary pair with inline
/// breeds, scales, a conditional route, an SLA, variables with references.
func blueprintDocument(_ i: Int) -> String {
    """
    kind: blueprint
    name: shop-\(i):1.\(i % 10)
    gateways:
      \(9000 + i % 1000)/http: web/web
    clusters:
      web:
        services:
          - breed:
              name: web-\(i):1.0
              deployable: acme/web:1.0
              ports: {web: 8080/http}
              environment_variables:
                BACKEND: http://$api.host:$api.ports.api/v1
                LOG_LEVEL: info
              dependencies: {api: api-\(i):2.*}
            scale: {cpu: 0.5, memory: 256MB, instances: 2}
          - breed:
              name: web-\(i):1.1
              deployable: acme/web:1.1
              ports: {web: 8080/http}
            scale: {cpu: 500m, memory: 0.25GB, instances: 1}
        gateways:
          web:
            sticky: route
            routes:
              web-\(i):1.0: {weight: 90%}
              web-\(i):1.1:
                weight: 10%
                condition: user-agent == Firefox and has cookie beta-\(i)
                condition_strength: 50%
        sla:
          type: response_time_sliding_window
          threshold: {upper: 1000, lower: 100}
          window: {interval: 60, cooldown: 600}
          escalations:
            - {type: scale_instances, minimum: 1, maximum: 5, scale_by: 1}
      api:
        services:
          - breed:
              name: api-\(i):2.\(i % 7)
              deployable: acme/api:2.0
              ports: {api: 9000/http}
            scale: {cpu: 1, memory: 1GB, instances: 3}
    environment_variables:
      web.LOG_LEVEL: debug

    """
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

func benchmarkDSL(documents count: Int, rounds: Int) throws {
    let documents = (0..<count).map(blueprintDocument)
    let stream = documents.map { "---\n" + $0 }.joined()
    let bytes = documents.reduce(0) { $0 + $1.utf8.count }
    print("corpus: \(count) blueprint documents, \(bytes / count) bytes each on average, \(bytes / 1024) KiB in all")
    // Sanity: every document reads and validates cleanly.
    for document in try DSLReader.read(stream) where !document.validate().isEmpty {
        fatalError("benchmark corpus is invalid: \(document.validate())")
    }

    var separate: [Double] = []
    var streamed: [Double] = []
    var written: [Double] = []
    for _ in 0..<rounds {
        var start = ContinuousClock.now
        var errors = 0
        for text in documents {
            for document in try DSLReader.read(text, kind: .blueprint) { errors += document.validate().count }
        }
        precondition(errors == 0)
        separate.append(Double(count) / (ContinuousClock.now - start).seconds)

        start = ContinuousClock.now
        let all = try DSLReader.read(stream)
        for document in all { errors += document.validate().count }
        precondition(errors == 0 && all.count == count)
        streamed.append(Double(count) / (ContinuousClock.now - start).seconds)

        start = ContinuousClock.now
        var size = 0
        for document in all { size += DSLWriter.json(document.artifact, pretty: false).utf8.count }
        precondition(size > 0)
        written.append(Double(count) / (ContinuousClock.now - start).seconds)
    }
    func line(_ name: String, _ values: [Double]) {
        print(String(format: "%-48@ best %8.0f/s   median %8.0f/s", name as NSString, values.max()!, median(values)))
    }
    line("parse + validate, one document per call", separate)
    line("parse + validate, one multi-document stream", streamed)
    line("write canonical JSON", written)
    print(String(format: "peak resident memory: %.1f MB", peakResidentMegabytes()))
}

/// Gateways with two routes each, one of them conditional, with two targets per route.
func benchmarkGateways(_ count: Int) -> [Gateway] {
    (0..<count).map { i in
        Gateway(name: "shop-\(i)/\(10_000 + i)", port: GatewayPort(number: 10_000 + i), sticky: i % 3 == 0 ? .route : nil, routes: [
            Route(path: "shop-\(i)/web/web:1.0/web", weight: Percentage(90),
                  targets: [.instance(name: "shop-\(i)-a", host: "10.0.\(i % 250).1", port: 31_000 + i % 1000), .instance(name: "shop-\(i)-b", host: "10.0.\(i % 250).2", port: 31_000 + i % 1000)]),
            Route(path: "shop-\(i)/web/web:1.1/web", weight: Percentage(10), condition: .inline(Condition(definition: "user-agent == Firefox and has cookie beta-\(i)")),
                  conditionStrength: Percentage(50), targets: [.instance(name: "shop-\(i)-c", host: "10.0.\(i % 250).3", port: 32_000 + i % 1000)]),
        ])
    }
}

func benchmarkHAProxy(counts: [Int], rounds: Int) throws {
    let generator = HAProxyConfigurationGenerator(options: .init(socketDirectory: "/tmp/vamp-bench-sockets"))
    let base = try HAProxyBaseConfiguration().render()
    print("| gateways | render (best of \(rounds)) | per gateway | config size | haproxy -c | render / haproxy -c |")
    print("|---:|---:|---:|---:|---:|---:|")
    for count in counts {
        let gateways = benchmarkGateways(count)
        var best = Double.infinity
        var text = ""
        for _ in 0..<rounds {
            let start = ContinuousClock.now
            text = try generator.render(gateways)
            best = min(best, (ContinuousClock.now - start).seconds)
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("vamp-bench-\(count).cfg")
        try (base + text).write(to: file, atomically: true, encoding: .utf8)
        var check = Double.infinity
        for _ in 0..<max(1, min(rounds, count >= 10_000 ? 2 : rounds)) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/haproxy")
            process.arguments = ["-c", "-q", "-f", file.path]
            let start = ContinuousClock.now
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { fatalError("haproxy -c rejected \(file.path)") }
            check = min(check, (ContinuousClock.now - start).seconds)
        }
        print(String(format: "| %d | %.1f ms | %.1f µs | %.1f MB | %.1f ms | %.1f%% |", count, best * 1000, best / Double(count) * 1e6,
                     Double(text.utf8.count) / 1e6, check * 1000, best / check * 100))
    }
    print(String(format: "peak resident memory of the benchmark process: %.1f MB", peakResidentMegabytes()))
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

let arguments = Array(CommandLine.arguments.dropFirst())
func option(_ name: String, default value: Int) -> Int {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count, let number = Int(arguments[index + 1]) else { return value }
    return number
}
switch arguments.first {
case "phases":
    let documents = (0..<option("--documents", default: 2000)).map(blueprintDocument)
    var start = ContinuousClock.now
    if !arguments.contains("--no-yams") { for text in documents { var seq = try Yams.compose_all(yaml: text); while seq.next() != nil {} } }
    print("yams compose", Double(documents.count) / (ContinuousClock.now - start).seconds)
    start = ContinuousClock.now
    for text in documents { _ = try DSLReader.read(text) }
    print("read", Double(documents.count) / (ContinuousClock.now - start).seconds)
    let read = try documents.map { try DSLReader.read($0)[0] }
    start = ContinuousClock.now
    for d in read { _ = d.validate() }
    print("validate", Double(documents.count) / (ContinuousClock.now - start).seconds)
case "render":
    let gateways = benchmarkGateways(option("--gateways", default: 10_000))
    let generator = HAProxyConfigurationGenerator(options: .init(socketDirectory: "/tmp/vamp-bench-sockets"))
    for _ in 0..<option("--rounds", default: 5) {
        let start = ContinuousClock.now
        let text = try generator.render(gateways)
        print(String(format: "render %d gateways: %.1f ms (%d bytes)", gateways.count, (ContinuousClock.now - start).seconds * 1000, text.utf8.count))
    }
case "haproxy":
    try benchmarkHAProxy(counts: [100, 1_000, 10_000], rounds: option("--rounds", default: 5))
case "dsl":
    try benchmarkDSL(documents: option("--documents", default: 10_000), rounds: option("--rounds", default: 5))
default:
    print("usage: vamp-benchmarks dsl [--documents N] [--rounds N]")
    exit(2)
}
