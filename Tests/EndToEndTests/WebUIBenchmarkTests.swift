import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import VampTesting

/// The web UI's timings in a real Chromium (Documentation/performance.md, `Scripts/bench-ui`): the first load of the
/// deployments page with 50 deployments (Navigation Timing, bytes), and a weight moved in the UI until HAProxy serves
/// it, each beside a baseline measured in the same run. They take minutes, so they run only when `VAMP_BENCH_UI` is
/// set (Scripts/bench-ui sets it), not in the normal suite.
@Suite("Benchmarks: the web UI in Chromium", .serialized, .enabled(if: ProcessInfo.processInfo.environment["VAMP_BENCH_UI"] != nil))
struct WebUIBenchmarkTests {
    static var runs: Int { Int(ProcessInfo.processInfo.environment["VAMP_BENCH_UI_RUNS"] ?? "") ?? 20 }
    /// A folder with other `vamp-server` and `sava` binaries (a release build), else the test build's.
    static var binaries: URL? { ProcessInfo.processInfo.environment["VAMP_BENCH_UI_BINARIES"].map { URL(fileURLWithPath: $0) } }

    @Test("first load of the deployments page with 50 deployments: domInteractive, data-ready, bytes")
    func pageLoad() async throws {
        try await UISession.run(binaries: Self.binaries) { ui in
            let client = ui.client, api = ui.server.api
            // 50 deployments of one idle process each (no ports, so no gateways: the page lists deployments).
            let breed = "name: idle:1.0\ndeployable: {type: command, definition: \"sleep 86400\"}\n"
            #expect((200..<300).contains(try await CanaryReleaseTests.call(client, .POST, "\(api)/breeds", yaml: breed).0))
            let names = (1...50).map { String(format: "shop-%02d", $0) }
            for name in names {
                let blueprint = """
                    name: \(name)
                    clusters:
                      app:
                        services:
                          - breed: idle:1.0
                            scale: {cpu: 0.01, memory: 16MB, instances: 1}
                    """
                let (status, body) = try await CanaryReleaseTests.call(client, .PUT, "\(api)/deployments/\(name)", yaml: blueprint)
                #expect(status == 202, "\(body)")
            }
            try await CanaryReleaseTests.eventually("50 deployments Done", timeout: .seconds(120)) {
                for name in names {
                    if try await !CanaryReleaseTests.allDone(client, ui.server, name, ["idle:1.0"]) { return false }
                }
                return true
            }
            var listBytes = 0
            for page in 1...2 { listBytes += try await CanaryReleaseTests.call(client, .GET, "\(api)/deployments?page=\(page)&per_page=30").1.utf8.count }
            print("bench-ui: GET /api/v1/deployments, 50 deployments in two pages of 30: \(listBytes) bytes of JSON")

            try await ui.signIn()
            // Before any script of the page: note when main[data-test=page] first gets data-ready=true.
            try await ui.browser.devTools("Page.addScriptToEvaluateOnNewDocument", ["source": .string("""
                (() => {
                  const mark = () => {
                    if (window.__vampReady === undefined && document.querySelector('main[data-test=page][data-ready=true]'))
                      window.__vampReady = performance.now();
                  };
                  new MutationObserver(mark).observe(document, {subtree: true, childList: true, attributes: true, attributeFilter: ['data-ready']});
                })();
                """)])
            let page = ui.server.host.absoluteString + "/#/deployments"

            // Baseline in the same run: the deployments' JSON (both pages, one after the other) fetched by the page alone.
            var cold: [Sample] = [], warm: [Sample] = [], fetches: [Double] = []
            for round in 0..<(Self.runs * 2) {
                let isCold = round % 2 == 0
                try await ui.browser.navigate(to: "about:blank")
                if isCold { try await ui.browser.devTools("Network.clearBrowserCache") }
                try await ui.browser.navigate(to: page)
                let sample = try await Self.measure(ui)
                if isCold { cold.append(sample) } else { warm.append(sample) }
                let fetched = try await ui.browser.executeAsyncScript("""
                    const done = arguments[arguments.length - 1];
                    const t0 = performance.now();
                    const get = (page) => fetch('/api/v1/deployments?page=' + page + '&per_page=30', {cache: 'no-store',
                        headers: {Authorization: 'Bearer ' + sessionStorage.getItem('vamp.token'), Accept: 'application/json'}}).then(r => r.text());
                    get(1).then(() => get(2)).then(() => done(performance.now() - t0), e => done(-1));
                    """)
                fetches.append(fetched.double ?? -1)
            }
            let first = cold[0]
            print("bench-ui: deployment rows shown: \(first.rows)")
            print("bench-ui: the first cold load, each resource: decoded bytes, start–end (ms from the navigation's start); data-ready at \(Self.ms(first.ready))")
            for resource in first.resources {
                print("bench-ui:   \(resource.name) \(resource.decoded) B, \(Self.ms(resource.start))–\(Self.ms(resource.end))")
            }
            for (label, samples) in [("cold cache", cold), ("warm cache", warm)] {
                print("bench-ui: page load, \(label), \(samples.count) loads of #/deployments with 50 deployments: "
                      + "domInteractive p50 \(Self.ms(Self.percentile(samples.map(\.domInteractive), 0.5))) p90 \(Self.ms(Self.percentile(samples.map(\.domInteractive), 0.9))); "
                      + "data-ready p50 \(Self.ms(Self.percentile(samples.map(\.ready), 0.5))) p90 \(Self.ms(Self.percentile(samples.map(\.ready), 0.9))); "
                      + "GET /api/v1/deployments starts at p50 \(Self.ms(Self.percentile(samples.map(\.deploymentsStart), 0.5))) and takes p50 \(Self.ms(Self.percentile(samples.map(\.deployments), 0.5))); "
                      + "bytes transferred \(samples.map(\.transferred).max() ?? 0), decoded \(samples.map(\.decoded).max() ?? 0) in \(samples.map(\.requests).max() ?? 0) requests")
            }
            print("bench-ui: baseline, the page's fetch of GET /api/v1/deployments, pages 1 and 2 of 30: p50 \(Self.ms(Self.percentile(fetches, 0.5))) p90 \(Self.ms(Self.percentile(fetches, 0.9)))")
            #expect(Self.percentile(cold.map(\.ready), 0.5) < 300, "goal: interactive with data under 300 ms")
            #expect(first.decoded < 200_000, "goal: under 200 KB uncompressed")
        }
    }

    struct Sample {
        var domInteractive: Double
        var ready: Double
        var transferred: Int
        var decoded: Int
        var requests: Int
        var rows: Int
        var deployments: Double
        var deploymentsStart: Double
        var resources: [(name: String, decoded: Int, start: Double, end: Double)]
    }

    /// Waits for the page's first data and reads Navigation and Resource Timing.
    static func measure(_ ui: UISession) async throws -> Sample {
        let value = try await ui.browser.waitFor("main[data-test=page][data-ready=true] after the load", timeout: .seconds(15)) {
            let value = try await ui.browser.executeScript("""
                if (window.__vampReady === undefined) return null;
                const n = performance.getEntriesByType('navigation')[0];
                const r = performance.getEntriesByType('resource');
                return {domInteractive: n.domInteractive, ready: window.__vampReady,
                        rows: document.querySelectorAll('[data-test=deployment-row]').length,
                        transferred: n.transferSize + r.reduce((s, e) => s + e.transferSize, 0),
                        decoded: n.decodedBodySize + r.reduce((s, e) => s + e.decodedBodySize, 0),
                        requests: 1 + r.length,
                        deployments: (r.find(e => new URL(e.name).pathname.endsWith('/api/v1/deployments')) || {duration: NaN}).duration,
                        deploymentsStart: (r.find(e => new URL(e.name).pathname.endsWith('/api/v1/deployments')) || {startTime: NaN}).startTime,
                        resources: [{name: location.pathname, decoded: n.decodedBodySize, start: n.startTime, end: n.responseEnd}].concat(
                          r.map(e => ({name: new URL(e.name).pathname + new URL(e.name).search, decoded: e.decodedBodySize,
                                       start: e.startTime, end: e.responseEnd})))};
                """)
            return value.isNull ? nil : value
        }
        if ProcessInfo.processInfo.environment["VAMP_BENCH_UI_DEBUG"] != nil { print("bench-ui: raw \(value)") }
        return Sample(
            domInteractive: value["domInteractive"].double ?? .nan, ready: value["ready"].double ?? .nan,
            transferred: value["transferred"].int ?? 0, decoded: value["decoded"].int ?? 0,
            requests: value["requests"].int ?? 0, rows: value["rows"].int ?? 0,
            deployments: value["deployments"].double ?? .nan, deploymentsStart: value["deploymentsStart"].double ?? .nan,
            resources: (value["resources"].array ?? []).map {
                ($0["name"].string ?? "?", $0["decoded"].int ?? 0, $0["start"].double ?? .nan, $0["end"].double ?? .nan)
            })
    }

    @Test("a weight moved in the UI until HAProxy serves it, p50/p99, beside the same change by PUT to the API")
    func weightToHAProxy() async throws {
        try await UISession.run(binaries: Self.binaries) { ui in
            let client = ui.client, api = ui.server.api
            // The quick start through the API: sava:1.0 Done, sava:1.1 merged.
            let gatewayPort = try await ui.deployQuickStartWithCanary()
            try await CanaryReleaseTests.eventually("sava:1.1 Done") {
                try await CanaryReleaseTests.allDone(client, ui.server, "sava", ["sava:1.0", "sava:1.1"])
            }
            let (_, gateway) = try await CanaryReleaseTests.call(client, .GET, "\(api)/gateways/sava/web/web")
            let internalPort = try #require((try UISession.json(gateway)["port"] as? String)?.split(separator: "/").first.flatMap { Int($0) })

            // Baseline: PUT of the gateway to the API, flipping 100/0 ⇄ 0/100, until the first request on the other version.
            var baseline: [Double] = []
            for move in 0..<Self.runs {
                let toCanary = move % 2 == 0
                let start = ContinuousClock.now
                let (status, body) = try await CanaryReleaseTests.call(
                    client, .PUT, "\(api)/gateways/sava/web/web",
                    yaml: CanaryReleaseTests.split(toCanary ? 0 : 100, toCanary ? 100 : 0, port: internalPort))
                #expect(status == 202, "\(body)")
                baseline.append(try await Self.servedAfter(start, ui, gatewayPort, toCanary ? "sava 1.1" : "sava 1.0"))
            }

            // Baseline 2: the request the UI makes: PUT of the gateway's JSON as GET answers it, weights changed.
            var baselineJSON: [Double] = [], putJSON: [Double] = []
            for move in 0..<Self.runs {
                let toCanary = move % 2 == 0
                let (_, current) = try await CanaryReleaseTests.call(client, .GET, "\(api)/gateways/sava/web/web")
                var object = try UISession.json(current)
                var routes = object["routes"] as? [String: Any] ?? [:]
                for (name, value) in routes {
                    var route = value as? [String: Any] ?? [:]
                    route["weight"] = name.contains("sava:1.1") == toCanary ? "100%" : "0%"
                    routes[name] = route
                }
                object["routes"] = routes
                let body = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
                var request = HTTPClientRequest(url: "\(api)/gateways/sava/web/web")
                request.method = .PUT
                request.headers.add(name: "Authorization", value: "Bearer \(VampServerFixture.adminToken)")
                request.headers.add(name: "Content-Type", value: "application/json")
                request.headers.add(name: "Accept", value: "application/json")
                request.body = .bytes(ByteBuffer(string: body))
                let start = ContinuousClock.now
                let response = try await client.execute(request, timeout: .seconds(30))
                let answer = try await response.body.collect(upTo: 1 << 20)
                putJSON.append((ContinuousClock.now - start) / .milliseconds(1))
                #expect(response.status.code == 202, "\(String(buffer: answer))")
                baselineJSON.append(try await Self.servedAfter(start, ui, gatewayPort, toCanary ? "sava 1.1" : "sava 1.0"))
            }

            // The UI: the gateway page, the canary's slider to 100 % (End) or 0 % (Home), Save; timed from the click.
            try await ui.signIn()
            try await ui.open("#/gateways/\(UISession.encode("sava/web/web"))", page: "gateway")
            let canary = UISession.route("sava/web/sava:1.1/web")
            let slider = "\(canary) input[type=range][data-test=route-weight]"
            // In the page: when the click arrived, and the PUT's start and end (Resource Timing), to split the time.
            try await ui.browser.executeScript("""
                window.__vampClicks = [];
                document.addEventListener('click', () => window.__vampClicks.push(performance.now()), true);
                """)
            var moves: [Double] = [], toClick: [Double] = [], toRequest: [Double] = [], request: [Double] = []
            for move in 0..<Self.runs {
                let toCanary = move % 2 == 0
                try await ui.browser.waitForElement(slider).sendKeys(toCanary ? ChromeBrowser.Key.end : ChromeBrowser.Key.home)
                try await ui.browser.waitUntil("the slider at \(toCanary ? 100 : 0)") {
                    try await ui.browser.findElement(slider).property("value").string == (toCanary ? "100" : "0")
                }
                let save = try await ui.browser.waitForElement("button[data-test=weights-save]")
                let start = ContinuousClock.now, wallStart = Date().timeIntervalSince1970 * 1000
                try await save.click()
                moves.append(try await Self.servedAfter(start, ui, gatewayPort, toCanary ? "sava 1.1" : "sava 1.0"))
                try await ui.browser.waitForElement("[data-test=saved]")
                let split = try await ui.browser.executeScript("""
                    const click = window.__vampClicks[window.__vampClicks.length - 1];
                    const put = performance.getEntriesByType('resource')
                      .filter(e => e.name.includes('/api/v1/gateways/') && e.startTime >= click).pop();
                    return put ? [put.startTime - click, put.responseEnd - put.startTime, performance.timeOrigin + click] : null;
                    """)
                if let parts = split.array, parts.count == 3 {
                    toRequest.append(parts[0].double ?? .nan)
                    request.append(parts[1].double ?? .nan)
                    toClick.append((parts[2].double ?? .nan) - wallStart)
                }
            }
            print("bench-ui: weight change → HAProxy serving it, \(Self.runs) moves each (100/0 ⇄ 0/100, first request on the other version):")
            print("bench-ui:   UI (slider, Save click)   p50 \(Self.ms(Self.percentile(moves, 0.5))) p99 \(Self.ms(Self.percentile(moves, 0.99))) (all: \(moves.map { Self.ms($0) }.joined(separator: " ")))")
            if !request.isEmpty {
                let fromClick = zip(moves, toClick).map { $0 - $1 }
                print("bench-ui:   UI, from the click in the page (less WebDriver's dispatch)  p50 \(Self.ms(Self.percentile(fromClick, 0.5))) p99 \(Self.ms(Self.percentile(fromClick, 0.99)))")
                print("bench-ui:   WebDriver's click command → the click in the page p50 \(Self.ms(Self.percentile(toClick, 0.5))) p99 \(Self.ms(Self.percentile(toClick, 0.99)))")
                print("bench-ui:   in the page: click → the UI's request starts p50 \(Self.ms(Self.percentile(toRequest, 0.5))) p99 \(Self.ms(Self.percentile(toRequest, 0.99))); the request (PUT/POST of the gateway) p50 \(Self.ms(Self.percentile(request, 0.5))) p99 \(Self.ms(Self.percentile(request, 0.99)))")
            }
            print("bench-ui:   API (PUT of the gateway, YAML of the routes' weights)  p50 \(Self.ms(Self.percentile(baseline, 0.5))) p99 \(Self.ms(Self.percentile(baseline, 0.99))) (all: \(baseline.map { Self.ms($0) }.joined(separator: " ")))")
            print("bench-ui:   API (PUT of the gateway's JSON as GET answers it, as the UI sends it)  p50 \(Self.ms(Self.percentile(baselineJSON, 0.5))) p99 \(Self.ms(Self.percentile(baselineJSON, 0.99))) (all: \(baselineJSON.map { Self.ms($0) }.joined(separator: " "))); its PUT's answer p50 \(Self.ms(Self.percentile(putJSON, 0.5))) p99 \(Self.ms(Self.percentile(putJSON, 0.99)))")
            #expect(Self.percentile(moves, 0.5) < 300, "goal: under 300 ms")
        }
    }

    /// Milliseconds from `start` until a request to the gateway (each on its own connection) answers `body`.
    static func servedAfter(_ start: ContinuousClock.Instant, _ ui: UISession, _ port: Int, _ body: String) async throws -> Double {
        while ContinuousClock.now - start < .seconds(20) {
            if (try? await ui.get(port)) == body { return (ContinuousClock.now - start) / .milliseconds(1) }
        }
        throw FixtureError("HAProxy did not serve \(body) within 20 s")
    }

    /// The `p` quantile (nearest rank) of `values`.
    static func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        let rank = Int((p * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }

    static func ms(_ value: Double) -> String { String(format: "%.0f ms", value) }
}
