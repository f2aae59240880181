import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import VampTesting

/// The releases page in a real browser (headless Chromium) against the built `vamp-server` with its embedded gateway
/// agent (real HAProxy), real `sava` processes and the release driver: a release started through the API, followed in
/// the page, approved, paused, resumed and aborted from its buttons, checked through the API and through HAProxy.
/// By the `data-test` contract only (Documentation/ui.md).
@Suite("End to end: releases in the web UI in Chromium", .serialized)
struct WebUIReleaseTests {
    /// A release of the quick start's `sava:1.1` against `sava:1.0` on the gateway `sava/web/web`.
    static func release(_ name: String, steps: String, minimumRequests: Int = 10, merge: Bool = false) -> String {
        ReleaseDocuments.sava(name, (merge ? "merge: true\n" : "") + """
            steps: \(steps)
            step: {minimum_duration: 1s, minimum_requests: \(minimumRequests)}
            checks:
              error_rate: {max_increase: 5%}
            insufficient_data: {after: 10m, then: hold}
            """)
    }

    /// `status.state` of the release, through the API.
    static func apiState(_ ui: UISession, _ name: String) async throws -> String? {
        let (status, body) = try await CanaryReleaseTests.call(ui.client, .GET, "\(ui.server.api)/releases/\(name)")
        guard status == 200 else { return nil }
        return (try UISession.json(body)["status"] as? [String: Any])?["state"] as? String
    }

    static let stateSelector = "[data-test=release-state]"

    /// The `data-state` of the page's state, or "" when the page has none yet.
    static func shownState(_ ui: UISession) async throws -> String {
        try await ui.browser.findElement(stateSelector).attribute("data-state") ?? ""
    }

    /// The `data-action` of every action button that is enabled, in page order.
    static func enabledActions(_ ui: UISession) async throws -> [String] {
        try await ui.browser.executeScript("""
            return [...document.querySelectorAll('button[data-test^=release-action-]')].filter(b => !b.disabled).map(b => b.dataset.action)
            """).array?.compactMap(\.string) ?? []
    }

    @Test("a gate: step 1 passes with traffic through HAProxy, the page shows awaiting approval with the evidence and the checks of the decision; Approve in the page: it goes on to 50 %, then 100 %, and is promoted; HAProxy sends everything to sava 1.1")
    func approveFromThePage() async throws {
        try await UISession.run { ui in
            let client = ui.client, api = ui.server.api
            let gatewayPort = try await ui.deployQuickStartWithCanary()
            try await CanaryReleaseTests.eventually("sava:1.0 and sava:1.1 Done", timeout: .seconds(60)) {
                try await CanaryReleaseTests.allDone(client, ui.server, "sava", ["sava:1.0", "sava:1.1"])
            }
            let (created, answer) = try await CanaryReleaseTests.call(
                client, .POST, "\(api)/releases", yaml: Self.release("sava-1.1", steps: "[10%, {weight: 50%, approval: true}, 100%]"))
            #expect(created == 201, "\(answer)")
            // Traffic through HAProxy for the rest of the test: step 1 gathers its requests to the canary.
            let load = CanaryReleaseTests.Load(client: client, port: gatewayPort)
            defer { load.cancel() }

            // The list: the release runs, at step 1 of 3; its link opens its page.
            try await ui.browser.emulateViewport(width: 1280, height: 800)
            try await ui.signIn()
            try await ui.browser.click("a[data-test=nav-releases]")
            try await ui.waitForPage("releases")
            let row = "[data-test=releases-running] [data-test=release-row][data-name='sava-1.1']"
            try await ui.browser.waitForElement(row)
            #expect(try await ui.browser.findElement("\(row) [data-test=release-step]").text() == "1 of 3")
            try await ui.browser.click("\(row) a[data-test=release-link]")
            try await ui.waitForPage("release")

            // Step 1 passes (its requests, its second): the release waits for the approval of step 2, at 10 %.
            try await ui.browser.waitUntil("the page to say awaiting_approval", timeout: .seconds(60)) {
                try await Self.shownState(ui) == "awaiting_approval"
            }
            #expect(try await ui.browser.findElement(Self.stateSelector).text() == "Awaiting approval")
            #expect(try await ui.browser.findElement("[data-test=release-step]").text() == "1 of 3")
            #expect(try await ui.browser.findElement("[data-test=release-weight]").text() == "10%")
            #expect(try await Self.enabledActions(ui) == ["pause", "approve", "promote", "abort"])
            #expect(try await Self.apiState(ui, "sava-1.1") == "awaiting_approval")
            // The evidence keeps counting the canary's requests while the release waits: no decision, so no event; the
            // page's 5 s reading shows them. The decision that passed step 1 carries its checks' figures.
            try await ui.browser.waitForText(
                "[data-test=release-evidence-row][data-route=canary] [data-figure=requests]", "to count 50 requests", timeout: .seconds(30)
            ) { (Int($0) ?? 0) >= 50 }
            let passed = "[data-test=release-timeline-entry][data-decision=advanced]:has([data-test=release-timeline-checks])"
            try await ui.browser.click("\(passed) summary[data-test=release-timeline-checks]")
            let check = try await ui.browser.waitForElement("\(passed) [data-test=release-check][data-check=error_rate]")
            #expect(try await check.attribute("data-outcome") == "pass")
            #expect(try await ui.browser.findElement("[data-test=release-checks] [data-test=release-check][data-check=error_rate]").isDisplayed())
            #expect(try await ui.browser.findElements("[data-test=release-timeline-entry][data-decision=approval_needed]").count == 1)
            try await ui.browser.executeScript("window.scrollTo(0, 0)")
            try await ui.screenshot("release")
            try await ui.browser.executeScript("document.querySelector('[data-test=release-timeline]').closest('.card').scrollIntoView()")
            try await ui.screenshot("release-timeline")

            // Approve in the page (the same page, no reload): it moves on to step 2 at 50 %, then promotes.
            try await ui.browser.executeScript("window.__vampNoReload = 'still here'")
            try await ui.browser.click("button[data-test=release-action-approve]")
            try await ui.browser.waitForElement("[data-test=release-timeline-entry][data-decision=approved]", timeout: .seconds(10))
            try await ui.browser.waitUntil("step 2 or later on the page") {
                let step = try await ui.browser.findElement("[data-test=release-step]").text()
                return ["2 of 3", "3 of 3"].contains(step)
            }
            #expect(try await ui.browser.findElement("button[data-test=release-action-approve]").isEnabled() == false)
            try await ui.browser.waitUntil("the page to say promoted (the driver's decisions arrive as events)", timeout: .seconds(90)) {
                try await Self.shownState(ui) == "promoted"
            }
            #expect(try await ui.browser.findElement("[data-test=release-weight]").text() == "100%")
            #expect(try await Self.enabledActions(ui).isEmpty, "an ended release takes no action")
            #expect(try await ui.browser.executeScript("return window.__vampNoReload").string == "still here", "no reload")
            let decisions = try await ui.browser.executeScript("""
                return [...document.querySelectorAll('[data-test=release-timeline-entry]')].map(e => e.dataset.decision)
                """).array?.compactMap(\.string) ?? []
            print("web UI: the release's timeline, newest first: \(decisions)")
            #expect(decisions.first == "promoted" && decisions.contains("approved") && decisions.last == "started", "\(decisions)")
            #expect(try await Self.apiState(ui, "sava-1.1") == "promoted")
            await load.stop()
            // HAProxy: every request on sava 1.1 (the agent's reload follows the gateway write within a moment).
            try await CanaryReleaseTests.eventually("20 requests in a row on sava 1.1", timeout: .seconds(10)) {
                try await CanaryReleaseTests.sample(client, port: gatewayPort, requests: 20) == ["sava 1.1": 20]
            }
            #expect(try await CanaryReleaseTests.sample(client, port: gatewayPort, requests: 30) == ["sava 1.1": 30])
        }
    }

    @Test("a release that merges its canary (merge: true) shows canary deployed in its timeline; pause and resume from the page, then abort: the page asks first (Cancel or Escape keep it running), confirmed from the keyboard the canary gets 0 % through HAProxy at once and the timeline shows the abort; a new release of the gateway appears in the open list and Promote now (confirmed) puts 100 % on sava 1.1")
    func abortFromThePage() async throws {
        try await UISession.run { ui in
            let client = ui.client, api = ui.server.api
            let gatewayPort = try await ui.deployQuickStart()
            // The release merges sava:1.1 itself and goes to 50 % once it runs; no traffic, so it holds there.
            let (created, answer) = try await CanaryReleaseTests.call(
                client, .POST, "\(api)/releases",
                yaml: Self.release("sava-1.1", steps: "[50%, {weight: 100%, approval: true}]", minimumRequests: 1000, merge: true))
            #expect(created == 201, "\(answer)")
            try await CanaryReleaseTests.eventually("sava:1.0 and sava:1.1 Done", timeout: .seconds(60)) {
                try await CanaryReleaseTests.allDone(client, ui.server, "sava", ["sava:1.0", "sava:1.1"])
            }
            try await CanaryReleaseTests.eventually("both versions answer through HAProxy") {
                let split = try await CanaryReleaseTests.sample(client, port: gatewayPort, requests: 40)
                return split["sava 1.0", default: 0] > 0 && split["sava 1.1", default: 0] > 0
            }

            try await ui.browser.emulateViewport(width: 1280, height: 800)
            try await ui.signIn()
            try await ui.open("#/releases/sava-1.1", page: "release")
            try await ui.browser.executeScript("window.__vampConfirmCalls = 0; window.confirm = () => { window.__vampConfirmCalls += 1; return true; }")
            try await ui.browser.waitUntil("a running release on the page") {
                ["progressing", "holding"].contains(try await Self.shownState(ui))
            }
            #expect(try await ui.browser.findElement("[data-test=release-weight]").text() == "50%")
            // The timeline: started at 0 %, the canary deployed, then the first step.
            let deployed = try await ui.browser.waitForElement("[data-test=release-timeline-entry][data-decision=canary_deployed]")
            #expect(try await deployed.findElement("[data-test=release-decision]").text() == "canary deployed")
            let decisions = try await ui.browser.executeScript("""
                return [...document.querySelectorAll('[data-test=release-timeline-entry]')].map(e => e.dataset.decision).reverse()
                """).array?.compactMap(\.string) ?? []
            #expect(Array(decisions.prefix(3)) == ["started", "canary_deployed", "advanced"], "\(decisions)")
            try await ui.browser.executeScript("document.querySelector('[data-test=release-timeline]').closest('.card').scrollIntoView()")
            try await ui.screenshot("release-merged-timeline")

            // Pause: the page and the API say paused; only resume, promote and abort apply. Resume: running again.
            try await ui.browser.click("button[data-test=release-action-pause]")
            try await ui.browser.waitUntil("paused on the page") { try await Self.shownState(ui) == "paused" }
            #expect(try await Self.apiState(ui, "sava-1.1") == "paused")
            #expect(try await Self.enabledActions(ui) == ["resume", "promote", "abort"])
            try await ui.browser.click("button[data-test=release-action-resume]")
            try await ui.browser.waitUntil("running again on the page") {
                ["progressing", "holding"].contains(try await Self.shownState(ui))
            }
            #expect(["progressing", "holding"].contains(try await Self.apiState(ui, "sava-1.1") ?? ""))

            // Abort asks in the page; Cancel sends nothing.
            try await ui.browser.click("button[data-test=release-action-abort]")
            try await ui.browser.click("button[data-test=release-cancel]")
            try await ui.browser.waitForAbsence("[data-test=release-confirm]")
            #expect(["progressing", "holding"].contains(try await Self.apiState(ui, "sava-1.1") ?? ""), "cancelled: still running")

            // From the keyboard: Enter on Abort asks, with the focus (visible) on the page's confirm button; Escape
            // cancels, sends nothing, and gives the focus back to Abort.
            let abort = try await ui.browser.findElement("button[data-test=release-action-abort]")
            try await abort.sendKeys(ChromeBrowser.Key.enter)
            try await ui.browser.waitForElement("button[data-test=release-confirm]")
            let focused = try await ui.browser.executeScript("""
                const e = document.activeElement, style = getComputedStyle(e);
                return {test: e.dataset.test || '', outline: style.outlineStyle !== 'none' && style.outlineWidth !== '0px'};
                """)
            #expect(focused["test"].string == "release-confirm" && focused["outline"].bool == true, "\(focused)")
            try await ui.browser.activeElement().sendKeys(ChromeBrowser.Key.escape)
            try await ui.browser.waitForAbsence("[data-test=release-confirm]")
            #expect(try await ui.browser.activeElement().attribute("data-test") == "release-action-abort")
            #expect(["progressing", "holding"].contains(try await Self.apiState(ui, "sava-1.1") ?? ""), "escaped: still running")

            // Abort, confirmed with Enter: 0 % on the canary.
            try await abort.sendKeys(ChromeBrowser.Key.enter)
            try await ui.browser.waitForElement("button[data-test=release-confirm]")
            try await ui.browser.activeElement().sendKeys(ChromeBrowser.Key.enter)
            try await ui.browser.waitUntil("aborted on the page", timeout: .seconds(10)) { try await Self.shownState(ui) == "aborted" }
            #expect(try await ui.browser.findElement("[data-test=release-weight]").text() == "0%")
            #expect(try await Self.enabledActions(ui).isEmpty)
            let entry = try await ui.browser.waitForElement("[data-test=release-timeline-entry][data-decision=aborted]")
            #expect(try await entry.findElement("[data-test=release-timeline-weight]").text() == "0%")
            #expect(try await ui.browser.executeScript("return window.__vampConfirmCalls").int == 0, "no window.confirm")
            #expect(try await Self.apiState(ui, "sava-1.1") == "aborted")
            let (_, gateway) = try await CanaryReleaseTests.call(client, .GET, "\(api)/gateways/sava/web/web")
            let routes = try #require(try UISession.json(gateway)["routes"] as? [String: Any])
            #expect(UISession.weight(routes["sava/web/sava:1.1/web"]) == 0, "\(gateway)")
            // HAProxy: every request on sava 1.0 (the agent's reload is done within a moment of the gateway write).
            try await CanaryReleaseTests.eventually("20 requests in a row on sava 1.0", timeout: .seconds(10)) {
                try await CanaryReleaseTests.sample(client, port: gatewayPort, requests: 20) == ["sava 1.0": 20]
            }
            #expect(try await CanaryReleaseTests.sample(client, port: gatewayPort, requests: 100) == ["sava 1.0": 100])

            // The list has it among the past releases, aborted.
            try await ui.browser.click("a[data-test=nav-releases]")
            try await ui.waitForPage("releases")
            let row = "[data-test=releases-past] [data-test=release-row][data-name='sava-1.1']"
            try await ui.browser.waitForElement(row)
            #expect(try await ui.browser.findElement("\(row) [data-test=release-state]").attribute("data-state") == "aborted")
            #expect(try await ui.browser.findElements("[data-test=releases-running] [data-test=release-row]").isEmpty)

            // The gateway is free again: a new release of it starts, and the open list shows it running without a reload.
            try await ui.browser.executeScript("window.__vampNoReload = 'still here'")
            let (again, againAnswer) = try await CanaryReleaseTests.call(
                client, .POST, "\(api)/releases", yaml: Self.release("sava-1.1-again", steps: "[10%, {weight: 50%, approval: true}, 100%]"))
            #expect(again == 201, "\(againAnswer)")
            try await ui.browser.waitForElement("[data-test=releases-running] [data-test=release-row][data-name='sava-1.1-again']")
            #expect(try await ui.browser.findElements(row).count == 1, "the aborted one stays among the past")
            #expect(try await ui.browser.executeScript("return window.__vampNoReload").string == "still here", "no reload")
            try await ui.screenshot("releases")

            // Promote now, from its page after the page's confirmation: 100 % on sava 1.1 at once, through HAProxy too.
            try await ui.browser.click("[data-test=release-row][data-name='sava-1.1-again'] a[data-test=release-link]")
            try await ui.waitForPage("release")
            try await ui.browser.waitUntil("the new release running on its page") {
                ["progressing", "holding", "awaiting_approval"].contains(try await Self.shownState(ui))
            }
            try await ui.browser.click("button[data-test=release-action-promote]")
            try await ui.browser.click("button[data-test=release-confirm]")
            try await ui.browser.waitUntil("promoted on the page", timeout: .seconds(10)) { try await Self.shownState(ui) == "promoted" }
            #expect(try await ui.browser.findElement("[data-test=release-weight]").text() == "100%")
            try await ui.browser.waitForElement("[data-test=release-timeline-entry][data-decision=promoted]")
            #expect(try await Self.apiState(ui, "sava-1.1-again") == "promoted")
            #expect(try await ui.browser.executeScript("return window.__vampConfirmCalls").int == 0, "no window.confirm")
            try await CanaryReleaseTests.eventually("20 requests in a row on sava 1.1", timeout: .seconds(10)) {
                try await CanaryReleaseTests.sample(client, port: gatewayPort, requests: 20) == ["sava 1.1": 20]
            }
            #expect(try await CanaryReleaseTests.sample(client, port: gatewayPort, requests: 50) == ["sava 1.1": 50])
        }
    }
}
