import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import VampTesting

/// Screenshots of the UI's main pages, taken by every test run so that Documentation/ui.md shows the UI as it is:
/// the quick start's deployment at 90/10 with traffic, a workflow with runs, events, at 1280×800 and at 390 px wide.
@Suite("End to end: screenshots of the web UI", .serialized)
struct WebUIScreenshotTests {
    @Test("screenshots of the main pages at 1280×800 and of the deployments page at 390 px wide into Documentation/ui/")
    func screenshots() async throws {
        try await UISession.run { ui in
            let client = ui.client, api = ui.server.api
            // The quick start through the API: sava:1.0 Done, sava:1.1 merged.
            let gatewayPort = try await ui.deployQuickStartWithCanary()
            try await CanaryReleaseTests.eventually("sava:1.1 Done") {
                try await CanaryReleaseTests.allDone(client, ui.server, "sava", ["sava:1.0", "sava:1.1"])
            }
            let (_, gateway) = try await CanaryReleaseTests.call(client, .GET, "\(api)/gateways/sava/web/web")
            let internalPort = try #require((try UISession.json(gateway)["port"] as? String)?.split(separator: "/").first.flatMap { Int($0) })
            let split = CanaryReleaseTests.split(90, 10, port: internalPort)
            #expect(try await CanaryReleaseTests.call(client, .PUT, "\(api)/gateways/sava/web/web", yaml: split).0 == 202)
            let load = CanaryReleaseTests.Load(client: client, port: gatewayPort)
            defer { load.cancel() }

            // A workflow with runs, and a few events of one's own.
            let workflow = """
                name: ticker
                breed:
                  name: tick
                  deployable: {type: command, definition: "echo tick"}
                schedule:
                  time: {period: PT2S}
                """
            let (stored, storedBody) = try await CanaryReleaseTests.call(client, .POST, "\(api)/workflows", yaml: workflow)
            #expect((200..<300).contains(stored), "\(storedBody)")
            for (tags, value) in [("release:sava, canary:started", "sava:1.1 at 10%"), ("audit:ui", "screenshots taken")] {
                _ = try await CanaryReleaseTests.call(client, .POST, "\(api)/events", yaml: "tags: [\(tags)]\nvalue: \(value)\n")
            }

            // The viewport exactly 1280×800 (a window of that size has a smaller viewport).
            try await ui.browser.emulateViewport(width: 1280, height: 800)
            try await ui.signIn()
            try await ui.open("#/deployments", page: "deployments")
            try await ui.browser.waitForElement("[data-test=deployment-row][data-name=sava]")
            try await ui.screenshot("deployments")

            try await ui.open("#/deployments/sava", page: "deployment")
            try await ui.waitForService("sava:1.1", instances: 1)
            try await ui.screenshot("deployment")

            // The gateway with a few seconds of figures (Pulse reads HAProxy's log every second).
            try await ui.open("#/gateways/\(UISession.encode("sava/web/web"))", page: "gateway")
            try await ui.browser.waitForElement("\(UISession.route("sava/web/sava:1.1/web")) [data-test=route-figures]")
            try await ui.browser.waitForElement("svg[data-test=route-chart]")
            try await ui.browser.waitUntil("figures with requests", timeout: .seconds(30)) {
                let text = try await ui.browser.findElement("\(UISession.route("sava/web/sava:1.0/web")) [data-test=route-figures]").text()
                return text.range(of: "[1-9]", options: .regularExpression) != nil
            }
            try await ui.screenshot("gateway")

            // The editor with a typo on line 6.
            try await ui.open("#/artifacts/breeds/new", page: "artifact")
            try await ui.browser.type("textarea[data-test=artifact-editor]", """
                name: sava:1.2
                deployable:
                  type: command
                  definition: sava --text "sava 1.2"
                ports:
                  web: 8080/htpp
                """)
            try await ui.browser.waitForText("[data-test=editor-error-line]") { $0.trimmingCharacters(in: .whitespaces) == "6" }
            try await ui.screenshot("artifact-error")

            try await ui.open("#/artifacts/breeds", page: "artifacts")
            try await ui.browser.waitForElement("[data-test=artifact-row]")
            try await ui.screenshot("artifacts")

            try await CanaryReleaseTests.eventually("a run of ticker") {
                try await CanaryReleaseTests.call(client, .GET, "\(api)/workflows/ticker/runs").1.contains("tick")
            }
            try await ui.open("#/workflows", page: "workflows")
            try await ui.browser.waitForElement("[data-test=workflow-row][data-name=ticker]")
            try await ui.screenshot("workflows")

            try await ui.open("#/events", page: "events")
            try await ui.browser.waitForElement("[data-test=events-panel] [data-test=event]")
            try await ui.screenshot("events")

            try await ui.open("#/system", page: "system")
            try await ui.browser.waitForElement("[data-test=system-part][data-part=haproxy]")
            try await ui.screenshot("system")

            // A phone: 390 × 844 CSS pixels.
            try await ui.browser.emulateViewport(width: 390, height: 844, mobile: true)
            try await ui.open("#/deployments", page: "deployments")
            try await ui.browser.waitForElement("[data-test=deployment-row][data-name=sava]")
            try await ui.screenshot("deployments-phone")
            try await ui.open("#/gateways/\(UISession.encode("sava/web/web"))", page: "gateway")
            try await ui.browser.waitForElement("\(UISession.route("sava/web/sava:1.1/web")) input[data-test=route-weight]")
            try await ui.screenshot("gateway-phone")
            // Nothing wider than the phone's screen: no sideways scrolling.
            let width = try await ui.browser.executeScript("return document.documentElement.scrollWidth").int
            #expect(width.map { $0 <= 390 } == true, "the gateway page is \(width ?? -1) px wide at 390")

            await load.stop()
            let files = try FileManager.default.contentsOfDirectory(atPath: UISession.screenshots.path).filter { $0.hasSuffix(".png") }
            print("web UI: screenshots in \(UISession.screenshots.path): \(files.sorted())")
        }
    }
}
