import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import VampTesting

/// The web UI in a real browser (headless Chromium through chromedriver) against the built `vamp-server` with its
/// embedded gateway agent (real HAProxy) and real `sava` processes: the quick start's canary release done from the
/// UI and checked through HAProxy, the artifact editor's error on its line, live events, the token.
///
/// The tests find their way by the UI's `data-test` contract only (Documentation/ui.md), never by layout or text
/// of headings.
@Suite("End to end: the web UI in Chromium", .serialized)
struct WebUITests {
    @Test("the quick start from the UI: deploy the blueprint, both instances come up, merge sava:1.1, slider to 10 %, save: HAProxy splits about 90/10")
    func quickStartFromTheUI() async throws {
        try await UISession.run { ui in
            let gatewayPort = try FreePort.next()
            try await ui.storeQuickStart(gatewayPort: gatewayPort)

            // Deploy the stored blueprint from the deployments page.
            try await ui.signIn()
            try await ui.open("#/deployments", page: "deployments")
            try await ui.browser.type("input[data-test=deployment-name]", "sava")
            try await ui.browser.select("select[data-test=blueprint-select]", value: "sava")
            try await ui.browser.click("button[data-test=deploy-submit]")
            try await ui.browser.click("[data-test=deployment-row][data-name=sava] a, a[data-test=deployment-row][data-name=sava]", timeout: .seconds(30))
            try await ui.waitForPage("deployment")

            // Both instances of sava:1.0 come up: the status says Done and two instances show their host:port.
            try await ui.waitForService("sava:1.0", instances: 2)
            #expect(try await ui.get(gatewayPort) == "sava 1.0")

            // Merge sava:1.1 (stored blueprint `sava-canary`) from the deployment page.
            try await ui.browser.select("select[data-test=merge-blueprint]", value: "sava-canary")
            try await ui.browser.click("button[data-test=merge-submit]")
            try await ui.waitForService("sava:1.1", instances: 1)
            // At 0 %: still all 1.0.
            #expect(try await CanaryReleaseTests.sample(ui.client, port: gatewayPort, requests: 50) == ["sava 1.0": 50])

            // The cluster gateway's page, by its link on the deployment page.
            let link = "a[href$='#/gateways/\(UISession.encode("sava/web/web"))']"
            try await ui.browser.click(link)
            try await ui.waitForPage("gateway")
            let canary = UISession.route("sava/web/sava:1.1/web"), stable = UISession.route("sava/web/sava:1.0/web")
            try await ui.browser.waitForElement("\(canary) input[data-test=route-weight]")
            #expect(try await ui.browser.findElement("\(stable) [data-test=weight-value]").text().contains("100%"))

            // Move the slider of sava:1.1 to 10 % with the keyboard (Home, then ten steps right); sava:1.0 follows.
            try await ui.moveSlider(of: canary, to: 10)
            try await ui.browser.waitForText("\(canary) [data-test=weight-value]", "to say 10%") { $0.contains("10%") }
            try await ui.browser.waitForText("\(stable) [data-test=weight-value]", "to say 90% (rebalanced)") { $0.contains("90%") }
            try await ui.browser.click("button[data-test=weights-save]")
            try await ui.browser.waitForElement("[data-test=saved]")

            // The server has the new weights...
            let (_, gateway) = try await CanaryReleaseTests.call(ui.client, .GET, "\(ui.server.api)/gateways/sava/web/web")
            let routes = try #require(try UISession.json(gateway)["routes"] as? [String: Any])
            #expect(UISession.weight(routes["sava/web/sava:1.1/web"]) == 10, "\(gateway)")
            #expect(UISession.weight(routes["sava/web/sava:1.0/web"]) == 90, "\(gateway)")
            // ... and HAProxy serves them: 400 requests, sava 1.1 ~ Binomial(400, 0.1): mean 40, sd 6; 16...64 is 4 sd.
            try await CanaryReleaseTests.eventually("a request reaches sava 1.1 through HAProxy") {
                try await ui.get(gatewayPort) == "sava 1.1"
            }
            let split = try await CanaryReleaseTests.sample(ui.client, port: gatewayPort, requests: 400)
            print("web UI: 400 requests after the 90/10 split from the UI: \(split)")
            #expect(Set(split.keys).isSubset(of: ["sava 1.0", "sava 1.1"]), "\(split)")
            #expect((16...64).contains(split["sava 1.1", default: 0]), "about 40 of 400 on sava 1.1: \(split)")
            #expect(split.values.reduce(0, +) == 400)
        }
    }

    @Test("the artifact editor: a breed with a typo on line 6 shows the server's message on line 6, a misspelt key on line 4 on line 4; fixed, it saves; the update's revision shows a line diff")
    func editorShowsTheErrorLine() async throws {
        try await UISession.run { ui in
            try await ui.storeQuickStart(gatewayPort: try FreePort.next())
            try await ui.signIn()
            // Open the stored breed from the breeds list.
            try await ui.open("#/artifacts/breeds", page: "artifacts")
            try await ui.browser.click("[data-test=artifact-row][data-name='sava:1.0'] a, a[data-test=artifact-row][data-name='sava:1.0']")
            try await ui.waitForPage("artifact")
            let editor = "textarea[data-test=artifact-editor]"
            try await ui.browser.waitForElement(editor)
            try await ui.browser.waitUntil("the editor to hold the stored breed") {
                (try await ui.browser.findElement(editor).property("value").string ?? "").contains("sava:1.0")
            }

            // Line 6 has a typo in a value: the protocol htpp.
            let typo = """
                name: sava:1.0
                deployable:
                  type: command
                  definition: sava --text "sava 1.0"
                ports:
                  web: 8080/htpp
                """
            try await ui.browser.type(editor, typo)
            #expect(try await ui.browser.findElement(editor).property("value").string == typo, "the editor holds what was typed")
            let (status, answer) = try await CanaryReleaseTests.call(
                ui.client, .PUT, "\(ui.server.api)/breeds/sava:1.0?validate_only=true", yaml: typo)
            #expect(status == 400, "\(answer)")
            let message = try UISession.json(answer)["message"] as? String ?? answer
            let shown = try await ui.browser.waitForText("[data-test=editor-error]", "to show the server's message") { !$0.isEmpty }
            #expect(shown.contains(message) || message.contains(shown), "editor error \(shown.debugDescription), server \(message.debugDescription)")
            #expect(shown.contains("htpp"), "\(shown)")
            try await ui.browser.waitForText("[data-test=editor-error-line]", "to be 6") { $0.trimmingCharacters(in: .whitespaces) == "6" }
            let gutter = try await ui.browser.executeScript("""
                return [...document.querySelectorAll('.error')].some(e => e !== document.querySelector('[data-test=editor-error]')
                    && e.textContent.trim() === '6')
                """)
            #expect(gutter.bool == true, "a gutter line 6 has the class error")

            // A misspelt key on line 4 (definitoin): the server's message names it, on line 4.
            let misspelt = typo.replacingOccurrences(of: "htpp", with: "http").replacingOccurrences(of: "  definition:", with: "  definitoin:")
            try await ui.browser.type(editor, misspelt)
            try await ui.browser.waitForText("[data-test=editor-error-line]", "to be 4") { $0.trimmingCharacters(in: .whitespaces) == "4" }
            #expect(try await ui.browser.findElement("[data-test=editor-error]").text().contains("definitoin"))

            // Fixed (and changed): the error goes, Save stores it.
            let fixed = typo.replacingOccurrences(of: "sava 1.0\"", with: "sava 1.0 edited\"").replacingOccurrences(of: "htpp", with: "http")
            try await ui.browser.type(editor, fixed)
            try await ui.browser.waitForAbsence("[data-test=editor-error]")
            try await ui.browser.click("button[data-test=artifact-save]")
            try await CanaryReleaseTests.eventually("the stored breed changed", timeout: .seconds(10)) {
                try await CanaryReleaseTests.call(ui.client, .GET, "\(ui.server.api)/breeds/sava:1.0").1.contains("sava 1.0 edited")
            }

            // Two revisions now (create, update); the update's diff has the changed line removed and added.
            try await ui.browser.waitUntil("two revisions") {
                try await ui.browser.findElements("[data-test=revisions] [data-test=revision]").count >= 2
            }
            try await ui.browser.click("[data-test=revisions] [data-test=revision]")
            try await ui.browser.waitUntil("a diff with the edited line") {
                let inserted = try await ui.browser.findElements("[data-test=revision-diff] ins")
                let deleted = try await ui.browser.findElements("[data-test=revision-diff] del")
                guard !inserted.isEmpty, !deleted.isEmpty else { return false }
                var text = ""
                for line in inserted { text += try await line.text() }
                return text.contains("sava 1.0 edited")
            }
        }
    }

    @Test("the navigation links open their pages; an event posted to the API appears in the events panel without a reload, and the tag filter keeps it")
    func liveEvents() async throws {
        try await UISession.run { ui in
            try await ui.signIn()
            for (link, page) in [
                ("gateways", "gateways"), ("secrets", "secrets"), ("releases", "releases"), ("artifacts", "artifacts"), ("workflows", "workflows"), ("system", "system"),
                ("deployments", "deployments"), ("events", "events"),
            ] {
                try await ui.browser.click("a[data-test=nav-\(link)]")
                try await ui.waitForPage(page)
            }
            try await ui.browser.waitForElement("[data-test=events-panel]")
            try await ui.browser.waitForAbsence("[data-test=disconnected]")
            // A mark in the page's memory: a reload would lose it.
            try await ui.browser.executeScript("window.__vampNoReload = 'still here'")
            let tag = "ui-test:\(UUID().uuidString.prefix(8).lowercased())"
            let (status, body) = try await CanaryReleaseTests.call(
                ui.client, .POST, "\(ui.server.api)/events", yaml: "tags: ['\(tag)']\ntype: ui-test\nvalue: hello from the test\n")
            #expect((200..<300).contains(status), "\(body)")
            let item = "[data-test=events-panel] [data-test=event][data-tags~='\(tag)']"
            try await ui.browser.waitForElement(item, timeout: .seconds(10))
            #expect(try await ui.browser.executeScript("return window.__vampNoReload").string == "still here", "no reload")

            // The filter by tag keeps the event and hides the others.
            try await ui.browser.type("input[data-test=events-filter]", tag)
            try await ui.browser.waitUntil("only events tagged \(tag) shown") {
                let shown = try await ui.browser.executeScript("""
                    return [...document.querySelectorAll('[data-test=events-panel] [data-test=event]')]
                        .filter(e => e.offsetParent !== null).map(e => e.dataset.tags)
                    """).array?.compactMap(\.string) ?? []
                return !shown.isEmpty && shown.allSatisfy { $0.split(separator: " ").contains(Substring(tag)) }
            }
        }
    }

    @Test("the token: without one the page asks for it; a wrong one is refused with a message; it lives in sessionStorage only; sign out forgets it")
    func token() async throws {
        try await UISession.run { ui in
            try await ui.browser.navigate(to: ui.server.host.absoluteString + "/#/deployments")
            try await ui.browser.waitForElement("input[data-test=token-input]")
            #expect(try await ui.browser.findElements("[data-test=deployment-row]").isEmpty)

            // A wrong token: refused, with a message, and the form is back.
            try await ui.browser.type("input[data-test=token-input]", "not-the-token")
            try await ui.browser.click("button[data-test=token-submit]")
            let refusal = try await ui.browser.waitForText("[data-test=error]", "to say the token was refused") { !$0.isEmpty }
            print("web UI: a wrong token: \(refusal)")
            try await ui.browser.waitForElement("input[data-test=token-input]")
            #expect(try await ui.browser.executeScript("return sessionStorage.getItem('vamp.token')").isNull, "a refused token is not kept")

            // The right one: the page shows, the token is in sessionStorage, not in localStorage or a cookie.
            try await ui.browser.type("input[data-test=token-input]", VampServerFixture.adminToken)
            try await ui.browser.click("button[data-test=token-submit]")
            try await ui.waitForPage("deployments")
            let storage = try await ui.browser.executeScript("""
                return {session: sessionStorage.getItem('vamp.token'), cookie: document.cookie,
                        local: Object.keys(localStorage).map(k => k + '=' + localStorage.getItem(k)).join('\\n')}
                """)
            #expect(storage["session"].string == VampServerFixture.adminToken)
            #expect(!(storage["local"].string ?? "").contains(VampServerFixture.adminToken), "not in localStorage: \(storage)")
            #expect(!(storage["cookie"].string ?? "").contains(VampServerFixture.adminToken), "not in a cookie: \(storage)")
            // A reload of the tab keeps it (sessionStorage lives as long as the tab).
            try await ui.browser.refresh()
            try await ui.waitForPage("deployments")

            // Sign out: the form again, and the token is gone.
            try await ui.browser.click("button[data-test=sign-out]")
            try await ui.browser.waitForElement("input[data-test=token-input]")
            #expect(try await ui.browser.executeScript("return sessionStorage.getItem('vamp.token')").isNull)
        }
    }

    @Test("the keyboard reaches every navigation link with Tab, each shows a focus style, and Enter opens its page")
    func keyboard() async throws {
        try await UISession.run { ui in
            try await ui.signIn()
            try await ui.open("#/deployments", page: "deployments")
            try await ui.browser.executeScript("document.activeElement && document.activeElement.blur(); document.body.focus()")
            var reached: [String: String] = [:]   // nav link → its focus outline or shadow
            for _ in 0..<40 where reached.count < 8 {
                let focused = try await ui.browser.activeElement()
                try await focused.sendKeys(ChromeBrowser.Key.tab)
                let now = try await ui.browser.executeScript("""
                    const e = document.activeElement, style = getComputedStyle(e);
                    return {test: e.dataset.test || '', focus: style.outlineStyle !== 'none' && style.outlineWidth !== '0px'
                        ? 'outline ' + style.outlineWidth + ' ' + style.outlineStyle : (style.boxShadow !== 'none' ? 'shadow' : '')};
                    """)
                if let test = now["test"].string, test.hasPrefix("nav-") { reached[test] = now["focus"].string ?? "" }
            }
            for link in ["nav-deployments", "nav-gateways", "nav-secrets", "nav-releases", "nav-artifacts", "nav-workflows", "nav-events", "nav-system"] {
                #expect(reached[link] != nil, "Tab reaches \(link): \(reached)")
                #expect(!(reached[link] ?? "").isEmpty, "\(link) shows where the focus is: \(reached)")
            }
            // Enter on the focused link (the last one reached) opens its page.
            let focused = try await ui.browser.activeElement()
            let target = try await focused.attribute("data-test") ?? ""
            if target.hasPrefix("nav-") {
                try await focused.sendKeys(ChromeBrowser.Key.enter)
                try await ui.waitForPage(String(target.dropFirst(4)))
            }
        }
    }

    @Test("the namespace is part of the address: /team-a/ lists team-a's breeds through /team-a/api/v1, / the default's")
    func namespaceFromTheAddress() async throws {
        try await UISession.run { ui in
            let breed = "name: only-in-team-a:1.0\ndeployable: {type: command, definition: \"sava --text a\"}\nports: {web: 8080/http}\n"
            let (status, body) = try await CanaryReleaseTests.call(
                ui.client, .POST, "http://127.0.0.1:\(ui.server.apiPort)/team-a/api/v1/breeds", yaml: breed)
            #expect((200..<300).contains(status), "\(body)")
            try await ui.signIn()
            try await ui.browser.navigate(to: ui.server.host.absoluteString + "/team-a/#/artifacts/breeds")
            try await ui.waitForPage("artifacts")
            try await ui.browser.waitForElement("[data-test=artifact-row][data-name='only-in-team-a:1.0']")
            try await ui.open("#/artifacts/breeds", page: "artifacts")
            #expect(try await ui.browser.findElements("[data-test=artifact-row][data-name='only-in-team-a:1.0']").isEmpty)
        }
    }
}

/// A `vamp-server` (VampServerFixture: embedded agent, real HAProxy, local processes) with a headless Chromium
/// pointed at it, and the helpers the web UI's tests share.
final class UISession: Sendable {
    let server: VampServerFixture
    let browser: ChromeBrowser
    let client = HTTPClient.shared

    /// `Documentation/ui/`, where the run writes the screenshots (found from this file's path).
    static let screenshots = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Documentation/ui", isDirectory: true)

    init(server: VampServerFixture, browser: ChromeBrowser) {
        self.server = server
        self.browser = browser
    }

    /// Starts a server (`vamp-server` and `sava` of `binaries`, by default the test build's) and a browser, runs `body`, and stops both whether it threw or not.
    static func run(
        width: Int = 1280, height: Int = 800, binaries: URL? = nil, extraEnvironment: [String: String] = [:],
        _ body: (UISession) async throws -> Void
    ) async throws {
        let server = try await VampServerFixture(binaries: binaries ?? CanaryReleaseTests.bin, extraEnvironment: extraEnvironment)
        let browser: ChromeBrowser
        do {
            browser = try await ChromeBrowser.start(width: width, height: height)
        } catch {
            server.tearDown()
            throw error
        }
        let session = UISession(server: server, browser: browser)
        do {
            try await body(session)
        } catch {
            let state = await browser.pageState()
            await browser.tearDown()
            print("web UI test failed; the browser showed:\n\(state)\nserver log:\n\(server.process.logTail())")
            server.tearDown()
            throw error
        }
        await browser.tearDown()
        server.tearDown()
    }

    /// The quick start through the API: stored (``storeQuickStart(gatewayPort:)``, on a free port), `sava` deployed
    /// until `sava:1.0` is `Done`, then `sava-canary` merged. Answers the gateway's port.
    func deployQuickStartWithCanary() async throws -> Int {
        let gatewayPort = try await deployQuickStart()
        #expect(try await CanaryReleaseTests.call(client, .PUT, "\(server.api)/deployments/sava", yaml: "sava-canary").0 == 202)
        return gatewayPort
    }

    /// Stores the quick start (``storeQuickStart(gatewayPort:)``) and deploys `sava:1.0` alone; returns the gateway's port.
    func deployQuickStart() async throws -> Int {
        let gatewayPort = try FreePort.next()
        try await storeQuickStart(gatewayPort: gatewayPort)
        #expect(try await CanaryReleaseTests.call(client, .PUT, "\(server.api)/deployments/sava", yaml: "sava").0 == 202)
        try await CanaryReleaseTests.eventually("sava:1.0 Done") {
            try await CanaryReleaseTests.allDone(client, server, "sava", ["sava:1.0"])
        }
        return gatewayPort
    }

    /// Stores the quick start's breeds and blueprint (Examples/sava.yaml, its gateway on `gatewayPort`) and the
    /// blueprint `sava-canary` that merges `sava:1.1` (one instance) into the deployment, through the API.
    func storeQuickStart(gatewayPort: Int) async throws {
        let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Examples/sava.yaml")
        let text = try String(contentsOf: examples, encoding: .utf8).replacingOccurrences(of: "9050/http", with: "\(gatewayPort)/http")
        let (status, body) = try await CanaryReleaseTests.call(client, .POST, server.api, yaml: text)
        guard (200..<300).contains(status) else { throw FixtureError("storing Examples/sava.yaml: \(status) \(body)") }
        let canary = """
            name: sava-canary
            clusters:
              web:
                services:
                  - breed: sava:1.1
                    scale: {cpu: 0.1, memory: 64MB, instances: 1}
            """
        let (stored, answer) = try await CanaryReleaseTests.call(client, .POST, "\(server.api)/blueprints", yaml: canary)
        guard (200..<300).contains(stored) else { throw FixtureError("storing the blueprint sava-canary: \(stored) \(answer)") }
    }

    /// Signs in through the token form with the fixture's admin token.
    func signIn() async throws {
        try await browser.navigate(to: server.host.absoluteString + "/")
        try await browser.type("input[data-test=token-input]", VampServerFixture.adminToken)
        try await browser.click("button[data-test=token-submit]")
        try await waitForPage("deployments")
    }

    /// Goes to the hash route `route` (`#/deployments`) and waits until page `page` has rendered its first data.
    func open(_ route: String, page: String) async throws {
        try await browser.navigate(to: server.host.absoluteString + "/" + route)
        try await waitForPage(page)
    }

    /// Waits until `document.body.dataset.page` is `page` and `main[data-test=page]` is `data-ready=true`.
    func waitForPage(_ page: String, timeout: Duration = .seconds(15)) async throws {
        try await browser.waitUntil("page \(page) ready (main[data-test=page][data-ready=true])", timeout: timeout) {
            try await browser.executeScript(
                "return document.body.dataset.page === arguments[0] && !!document.querySelector('main[data-test=page][data-ready=true]')",
                [.string(page)]).bool == true
        }
    }

    /// The CSS selector of the service element of breed `breed`.
    static func service(_ breed: String) -> String { "[data-test=service][data-breed='\(breed)']" }

    /// The CSS selector of the route element of route `name`.
    static func route(_ name: String) -> String { "[data-test=route][data-route='\(name)']" }

    /// Waits on the deployment page until the service of `breed` says `Done` and shows `instances` instances.
    func waitForService(_ breed: String, instances: Int, timeout: Duration = .seconds(60)) async throws {
        let service = Self.service(breed)
        try await browser.waitUntil("service \(breed) Done with \(instances) instances", timeout: timeout) {
            let status = try await browser.findElement("\(service) [data-test=service-status]").text()
            let shown = try await browser.findElements("\(service) [data-test=instance]")
            guard status.contains("Done"), shown.count == instances else { return false }
            for instance in shown {
                // host:port
                let text = try await instance.text()
                guard text.range(of: #"[0-9A-Za-z.\-]+:[0-9]{2,5}"#, options: .regularExpression) != nil else { return false }
            }
            return true
        }
    }

    /// Puts the weight slider of the route `route` (a selector) at `percent` with the keyboard: Home, then arrow keys.
    func moveSlider(of route: String, to percent: Int) async throws {
        let slider = try await browser.waitForElement("\(route) input[type=range][data-test=route-weight]")
        try await slider.sendKeys(ChromeBrowser.Key.home + String(repeating: ChromeBrowser.Key.arrowRight, count: percent))
        let value = try await browser.findElement("\(route) input[type=range][data-test=route-weight]").property("value")
        guard value.string == String(percent) || value.int == percent else {
            throw FixtureError("the slider of \(route) is at \(value), not \(percent)")
        }
    }

    /// The body of one request to the gateway on `port` (its own connection).
    func get(_ port: Int) async throws -> String {
        try await CanaryReleaseTests.get(client, "http://127.0.0.1:\(port)/").1
    }

    /// Writes a screenshot of the viewport to `Documentation/ui/<name>.png`.
    func screenshot(_ name: String) async throws {
        // Fonts and the last frame settle: wait for two animation frames.
        try await browser.executeAsyncScript(
            "const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)))")
        try await browser.screenshot(to: Self.screenshots.appendingPathComponent("\(name).png"))
    }

    /// `encodeURIComponent` as the UI's hash routes use it.
    static func encode(_ name: String) -> String {
        name.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()")) ?? name
    }

    static func json(_ text: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
    }

    /// A route's weight in percent from the API's JSON (`"10%"` or `10`).
    static func weight(_ route: Any?) -> Int? {
        guard let route = route as? [String: Any] else { return nil }
        if let text = route["weight"] as? String { return Int(text.replacingOccurrences(of: "%", with: "")) }
        return (route["weight"] as? NSNumber)?.intValue
    }
}
