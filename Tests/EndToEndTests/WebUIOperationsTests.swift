import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import VampTesting

#if canImport(Glibc)
import Glibc
#endif

/// The web UI's other operations in a real browser against the built `vamp-server` (real HAProxy, real processes):
/// scale and remove a service, the deployment as a blueprint, a workflow suspended and resumed with its runs' output,
/// the parts of the system. By the `data-test` contract only.
@Suite("End to end: operations from the web UI in Chromium", .serialized)
struct WebUIOperationsTests {
    @Test("the deployment page: scale sava:1.0 to 3 instances, show it as a blueprint, remove sava:1.1 with the page's own confirmation")
    func deploymentOperations() async throws {
        try await UISession.run { ui in
            let client = ui.client, api = ui.server.api
            // The quick start through the API: sava:1.0 Done, sava:1.1 merged.
            let gatewayPort = try await ui.deployQuickStartWithCanary()

            try await ui.signIn()
            try await ui.open("#/deployments/sava", page: "deployment")
            try await ui.waitForService("sava:1.0", instances: 2)
            try await ui.waitForService("sava:1.1", instances: 1)

            // Scale: 3 instances of sava:1.0, three processes.
            let stable = UISession.service("sava:1.0"), canary = UISession.service("sava:1.1")
            try await ui.browser.type("\(stable) input[data-test=scale-instances]", "3")
            try await ui.browser.click("\(stable) button[data-test=scale-submit]")
            try await ui.waitForService("sava:1.0", instances: 3)
            #expect(try await ui.browser.findElement("\(stable) [data-test=service-scale]").text().contains("3"))
            try await CanaryReleaseTests.eventually("three sava 1.0 processes") {
                CanaryReleaseTests.savaPids(text: "sava 1.0", folder: ui.server.folder).count == 3
            }

            // As a blueprint.
            try await ui.browser.click("button[data-test=as-blueprint]")
            let blueprint = try await ui.browser.waitForText("pre[data-test=blueprint-text]", "to hold both breeds") {
                $0.contains("sava:1.0") && $0.contains("sava:1.1")
            }
            #expect(blueprint.contains("web"), "\(blueprint)")

            // Remove sava:1.1 (at 0 %): the page asks itself, never window.confirm.
            try await ui.browser.executeScript("window.__vampConfirmCalls = 0; window.confirm = () => { window.__vampConfirmCalls += 1; return true; }")
            try await ui.browser.click("\(canary) button[data-test=service-remove]")
            try await ui.browser.click("button[data-test=confirm]")
            try await ui.browser.waitForAbsence(canary, timeout: .seconds(30))
            #expect(try await ui.browser.executeScript("return window.__vampConfirmCalls").int == 0, "no window.confirm")
            try await CanaryReleaseTests.eventually("only sava:1.0 left, Done") {
                try await CanaryReleaseTests.allDone(client, ui.server, "sava", ["sava:1.0"])
            }
            try await CanaryReleaseTests.eventually("the sava 1.1 process is gone") {
                CanaryReleaseTests.savaPids(text: "sava 1.1", folder: ui.server.folder).isEmpty
            }
            #expect(try await CanaryReleaseTests.sample(client, port: gatewayPort, requests: 20) == ["sava 1.0": 20])
        }
    }

    @Test("workflows: suspend and resume from the list, the workflow's runs with their output")
    func workflows() async throws {
        try await UISession.run { ui in
            let client = ui.client, api = ui.server.api
            let workflow = """
                name: ticker
                breed:
                  name: tick
                  deployable: {type: command, definition: "echo tick from the workflow"}
                schedule:
                  time: {period: PT1S}
                """
            let (stored, body) = try await CanaryReleaseTests.call(client, .POST, "\(api)/workflows", yaml: workflow)
            #expect((200..<300).contains(stored), "\(body)")
            try await ui.signIn()
            try await ui.open("#/workflows", page: "workflows")
            let row = "[data-test=workflow-row][data-name=ticker]"
            try await ui.browser.waitForText("\(row) [data-test=workflow-status]", "to say running") { $0.contains("running") }
            try await ui.browser.waitForElement("\(row) [data-test=workflow-next-run]")

            try await ui.browser.click("\(row) button[data-test=workflow-suspend]")
            try await ui.browser.waitForText("\(row) [data-test=workflow-status]", "to say suspended", timeout: .seconds(20)) { $0.contains("suspended") }
            #expect(try await CanaryReleaseTests.call(client, .GET, "\(api)/workflows/ticker/status").1.contains("suspended"))
            try await ui.browser.click("\(row) button[data-test=workflow-resume]")
            try await ui.browser.waitForText("\(row) [data-test=workflow-status]", "to say running", timeout: .seconds(20)) { $0.contains("running") }
            #expect(try await CanaryReleaseTests.call(client, .GET, "\(api)/workflows/ticker/status").1.contains("running"))

            try await ui.open("#/workflows/ticker", page: "workflow")
            try await ui.browser.waitUntil("a run whose output says tick", timeout: .seconds(20)) {
                for run in try await ui.browser.findElements("[data-test=workflow-run]") {
                    for output in try await run.findElements("pre") where try await output.text().contains("tick from the workflow") {
                        return true
                    }
                }
                return false
            }
        }
    }

    @Test("the system page: every part with its state from /info, the gateway agent and HAProxy ok; the configuration shown")
    func system() async throws {
        try await UISession.run { ui in
            try await ui.signIn()
            try await ui.open("#/system", page: "system")
            for part in ["server", "store", "driver", "kv", "gateway-agent", "haproxy"] {
                let element = try await ui.browser.waitForPresence("[data-test=system-part][data-part=\(part)]")
                let state = try await element.attribute("data-state")
                #expect(["ok", "error", "unknown"].contains(state ?? ""), "part \(part): data-state \(state ?? "none")")
                if ["server", "gateway-agent", "haproxy", "driver"].contains(part) {
                    try await ui.browser.waitUntil("part \(part) ok") {
                        try await ui.browser.findElement("[data-test=system-part][data-part=\(part)]").attribute("data-state") == "ok"
                    }
                }
            }
            // The configuration of GET /api/v1/config: the API's port is in it.
            try await ui.browser.waitUntil("the configuration with the API's port \(ui.server.apiPort)") {
                let text = try await ui.browser.executeScript("return document.querySelector('main[data-test=page]').innerText").string ?? ""
                return text.contains(String(ui.server.apiPort))
            }
        }
    }

    @Test("the gateway page: a header condition at 100 % typed in the UI sends every request with the header to sava:1.1 through HAProxy; the HAProxy configuration shows it")
    func gatewayCondition() async throws {
        try await UISession.run { ui in
            let client = ui.client, api = ui.server.api
            let gatewayPort = try FreePort.next()
            try await ui.storeQuickStart(gatewayPort: gatewayPort)
            #expect(try await CanaryReleaseTests.call(client, .PUT, "\(api)/deployments/sava", yaml: "sava").0 == 202)
            #expect(try await CanaryReleaseTests.call(client, .PUT, "\(api)/deployments/sava", yaml: "sava-canary").0 == 202)
            try await CanaryReleaseTests.eventually("sava:1.0 and sava:1.1 Done") {
                try await CanaryReleaseTests.allDone(client, ui.server, "sava", ["sava:1.0", "sava:1.1"])
            }
            try await ui.signIn()
            try await ui.open("#/gateways/\(UISession.encode("sava/web/web"))", page: "gateway")
            let canary = UISession.route("sava/web/sava:1.1/web")
            try await ui.browser.type("\(canary) input[data-test=route-condition]", "has header X-Canary")
            try await ui.browser.type("\(canary) input[data-test=route-condition-strength]", "100%")
            try await ui.browser.click("button[data-test=weights-save]")
            try await ui.browser.waitForElement("[data-test=saved]")
            try await CanaryReleaseTests.eventually("requests with X-Canary reach sava 1.1") {
                try await CanaryReleaseTests.sample(client, port: gatewayPort, requests: 10, headers: [("X-Canary", "yes")]) == ["sava 1.1": 10]
            }
            #expect(try await CanaryReleaseTests.sample(client, port: gatewayPort, requests: 50, headers: [("X-Canary", "yes")]) == ["sava 1.1": 50])
            #expect(try await CanaryReleaseTests.sample(client, port: gatewayPort, requests: 50) == ["sava 1.0": 50])
            // The generated configuration on the page has the header's ACL.
            try await ui.browser.waitForText("pre[data-test=haproxy-config]", "to have the X-Canary ACL", timeout: .seconds(20)) {
                $0.contains("X-Canary")
            }
        }
    }

    @Test("the artifacts list: 30 breeds paged, the next page shows others, the search keeps the matches; a breed deleted with the page's confirmation")
    func artifactsSearchPagingDelete() async throws {
        try await UISession.run { ui in
            let client = ui.client, api = ui.server.api
            for index in 1...30 {
                let name = String(format: "paged-%02d:1.0", index)
                let breed = "name: \(name)\ndeployable: {type: command, definition: \"sava --text \(index)\"}\nports: {web: 8080/http}\n"
                #expect((200..<300).contains(try await CanaryReleaseTests.call(client, .POST, "\(api)/breeds", yaml: breed).0))
            }
            try await ui.signIn()
            try await ui.open("#/artifacts/breeds", page: "artifacts")
            let rowNames = "return [...document.querySelectorAll('[data-test=artifact-row]')].map(e => e.dataset.name)"
            let first = try await ui.browser.executeScript(rowNames).array?.compactMap(\.string) ?? []
            #expect(!first.isEmpty)
            let info = try await ui.browser.findElement("[data-test=page-info]").text()
            if first.count < 30 {
                // Paged: the next page shows other breeds and says so.
                try await ui.browser.click("button[data-test=page-next]")
                try await ui.browser.waitUntil("another page of breeds") {
                    let next = try await ui.browser.executeScript(rowNames).array?.compactMap(\.string) ?? []
                    return !next.isEmpty && Set(next).isDisjoint(with: first)
                }
                #expect(try await ui.browser.findElement("[data-test=page-info]").text() != info)
                try await ui.browser.click("button[data-test=page-prev]")
                try await ui.browser.waitUntil("the first page again") {
                    try await ui.browser.executeScript(rowNames).array?.compactMap(\.string) ?? [] == first
                }
            } else {
                Issue.record("30 breeds on one page: no paging to test (page-info: \(info))")
            }

            // Search.
            try await ui.browser.type("input[data-test=artifact-search]", "paged-07")
            try await ui.browser.waitUntil("only paged-07:1.0 listed") {
                try await ui.browser.executeScript(rowNames).array?.compactMap(\.string) ?? [] == ["paged-07:1.0"]
            }

            // Delete it from its page: the page's own confirmation, then it is gone from the API.
            try await ui.browser.click("[data-test=artifact-row][data-name='paged-07:1.0'] a, a[data-test=artifact-row][data-name='paged-07:1.0']")
            try await ui.waitForPage("artifact")
            try await ui.browser.executeScript("window.confirm = () => { throw new Error('window.confirm used') }")
            try await ui.browser.click("button[data-test=artifact-delete]")
            try await ui.browser.click("button[data-test=confirm]")
            try await CanaryReleaseTests.eventually("paged-07:1.0 deleted", timeout: .seconds(10)) {
                try await CanaryReleaseTests.call(client, .GET, "\(api)/breeds/paged-07:1.0").0 == 404
            }
        }
    }

    @Test("the connection state: while the server restarts the page shows it is disconnected, then reconnects by itself")
    func connectionState() async throws {
        try await UISession.run { ui in
            try await ui.signIn()
            try await ui.open("#/events", page: "events")
            try await ui.browser.waitForAbsence("[data-test=disconnected]")
            try await ui.server.restart(signal: SIGTERM, log: "server-2.log", waitingForAPI: false)
            try await ui.browser.waitForElement("[data-test=disconnected]", timeout: .seconds(20))
            try await ui.server.waitUntilServing()
            try await ui.browser.waitForAbsence("[data-test=disconnected]", timeout: .seconds(20))
            // Live again: a new event shows without a reload.
            let tag = "after-restart:\(UUID().uuidString.prefix(8).lowercased())"
            _ = try await CanaryReleaseTests.call(ui.client, .POST, "\(ui.server.api)/events", yaml: "tags: ['\(tag)']\nvalue: back\n")
            try await ui.browser.waitForElement("[data-test=event][data-tags~='\(tag)']", timeout: .seconds(10))
        }
    }
}
