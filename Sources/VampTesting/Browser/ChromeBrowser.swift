public import Foundation
import AsyncHTTPClient
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// A real headless Chromium (Debian `chromium`) driven through `chromedriver` (Debian `chromium-driver`) with the W3C
/// WebDriver HTTP protocol: one browser session on a driver of its own (a free port, a fresh profile folder).
/// ``tearDown()`` ends the session, stops the driver and any browser process left of its profile.
///
/// A missing browser or driver fails with the `apt-get install` line, never a skip. Waits poll the page every 50 ms
/// until a deadline: they wait on the browser, never on the clock alone.
///
/// ```swift
/// let browser = try await ChromeBrowser.start()
/// defer { Task { await browser.tearDown() } }
/// try await browser.navigate(to: "http://127.0.0.1:8080/#/deployments")
/// try await browser.waitForElement("main[data-test=page][data-ready=true]")
/// ```
public final class ChromeBrowser: Sendable {
    /// The browser binary (Debian's wrapper script).
    public static let chromium = "/usr/bin/chromium"
    /// The driver binary.
    public static let chromedriver = "/usr/bin/chromedriver"
    static let installHint = "Install them with: apt-get install chromium chromium-driver (Scripts/test does this)."

    /// The driver's port on 127.0.0.1.
    public let driverPort: Int
    /// The WebDriver session.
    public let sessionID: String
    /// The driver's folder: its log and the browser's profile.
    public let folder: TemporaryDirectory
    let driver: ExternalProcess
    let client: HTTPClient

    /// How long a wait lasts when none is given.
    public static let defaultTimeout: Duration = .seconds(15)

    /// What went wrong in a WebDriver command: the protocol's error code (`no such element`, `stale element
    /// reference`, `javascript error`, ...) and message.
    public struct WebDriverError: Error, CustomStringConvertible, Sendable {
        /// The HTTP status of the answer.
        public let status: Int
        /// The W3C error code.
        public let error: String
        /// The driver's message.
        public let message: String
        /// The command (`POST /session/<id>/element`).
        public let command: String

        public var description: String { "WebDriver \(command): \(status) \(error): \(message)" }
    }

    private init(driverPort: Int, sessionID: String, folder: TemporaryDirectory, driver: ExternalProcess, client: HTTPClient) {
        self.driverPort = driverPort
        self.sessionID = sessionID
        self.folder = folder
        self.driver = driver
        self.client = client
    }

    /// Starts `chromedriver` on a free port and opens a session with headless Chromium on a window of `width` ×
    /// `height` CSS pixels. `extraArguments` are added to the browser's command line.
    public static func start(width: Int = 1280, height: Int = 800, extraArguments: [String] = []) async throws -> ChromeBrowser {
        for binary in [chromium, chromedriver] where !FileManager.default.isExecutableFile(atPath: binary) {
            throw FixtureError("\(binary) not found. \(installHint)")
        }
        let folder = try TemporaryDirectory(prefix: "vamp-chrome")
        let client = HTTPClient.shared
        var lastError: (any Error)?
        // Another process may take the free port before the driver binds it: try another.
        for attempt in 1...3 {
            let port = try FreePort.next()
            let driver = try ExternalProcess(
                executable: chromedriver, arguments: ["--port=\(port)", "--allowed-ips=127.0.0.1"],
                workingDirectory: folder.url, logFile: folder.url.appendingPathComponent("chromedriver-\(attempt).log"),
                installHint: installHint)
            do {
                try await VampTesting.waitUntil(timeout: .seconds(15), "chromedriver answers on \(port)\n\(driver.logTail())") {
                    guard driver.isRunning else { throw FixtureError("chromedriver exited:\n\(driver.logTail())") }
                    return FreePort.isAccepting(port)
                }
            } catch {
                lastError = error
                await driver.stopOffThePool()
                continue
            }
            let profile = folder.url.appendingPathComponent("profile").path
            let arguments: [WebDriverValue] = ([
                "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=\(width),\(height)",
                "--user-data-dir=\(profile)", "--no-first-run", "--no-default-browser-check", "--disable-gpu",
                "--disable-extensions", "--disable-background-networking", "--disable-component-update",
            ] + extraArguments).map(WebDriverValue.string)
            let capabilities: WebDriverValue = [
                "capabilities": [
                    "alwaysMatch": [
                        "browserName": "chrome",
                        "pageLoadStrategy": "normal",
                        "goog:chromeOptions": ["binary": .string(chromium), "args": .array(arguments)],
                        "goog:loggingPrefs": ["browser": "ALL"],
                    ],
                ],
            ]
            do {
                let answer = try await command(client, port: port, .POST, "/session", capabilities, timeout: .seconds(60))
                guard let session = answer["sessionId"].string else {
                    throw FixtureError("chromedriver opened no session: \(answer)\n\(driver.logTail())")
                }
                return ChromeBrowser(driverPort: port, sessionID: session, folder: folder, driver: driver, client: client)
            } catch {
                await driver.stopOffThePool()
                folder.remove()
                throw FixtureError("Chromium did not start through chromedriver: \(error)\n\(driver.logTail())")
            }
        }
        folder.remove()
        throw lastError ?? FixtureError("chromedriver did not start")
    }

    /// Ends the session (the driver closes the browser), stops the driver, kills any browser process still using
    /// this session's profile and removes the folder.
    public func tearDown() async {
        _ = try? await execute(.DELETE, "", nil, timeout: .seconds(10))
        await driver.stopOffThePool()
        let profile = folder.url.path
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), pid != getpid(),
                  let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"),
                  String(decoding: data, as: UTF8.self).contains(profile) else { continue }
            kill(pid, SIGKILL)
        }
        folder.remove()
    }

    /// The driver's log, for error messages.
    public func driverLogTail() -> String { driver.logTail() }

    // MARK: Protocol

    static func command(
        _ client: HTTPClient, port: Int, _ method: HTTPMethod, _ path: String, _ body: WebDriverValue?, timeout: Duration
    ) async throws -> WebDriverValue {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = method
        if method == .POST {
            request.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
            request.body = .bytes(ByteBuffer(bytes: (body ?? [:]).data))
        }
        let response = try await client.execute(request, timeout: .milliseconds(Int64(timeout / .milliseconds(1))))
        let bytes = try await response.body.collect(upTo: 256 << 20)
        let text = Data(bytes.readableBytesView)
        let value = (try? WebDriverValue(data: text)) ?? .string(String(decoding: text, as: UTF8.self))
        guard (200..<300).contains(Int(response.status.code)) else {
            throw WebDriverError(
                status: Int(response.status.code), error: value["value"]["error"].string ?? "unknown error",
                message: value["value"]["message"].string ?? String(decoding: text.prefix(2000), as: UTF8.self),
                command: "\(method) \(path)")
        }
        return value["value"]
    }

    /// Sends a command of this session: `path` follows `/session/<id>`. Answers the `value` of the reply.
    @discardableResult
    func execute(_ method: HTTPMethod, _ path: String, _ body: WebDriverValue? = nil, timeout: Duration = .seconds(60)) async throws -> WebDriverValue {
        try await Self.command(client, port: driverPort, method, "/session/\(sessionID)\(path)", body, timeout: timeout)
    }

    // MARK: Navigation and windows

    /// Loads `url` and returns once the page has loaded (its `load` event).
    public func navigate(to url: String) async throws {
        try await execute(.POST, "/url", ["url": .string(url)])
    }

    /// The page's address.
    public func currentURL() async throws -> String {
        try await execute(.GET, "/url").string ?? ""
    }

    /// Reloads the page.
    public func refresh() async throws {
        try await execute(.POST, "/refresh", [:])
    }

    /// The page's title.
    public func title() async throws -> String {
        try await execute(.GET, "/title").string ?? ""
    }

    /// Resizes the browser window to `width` × `height` CSS pixels.
    public func setWindowSize(width: Int, height: Int) async throws {
        try await execute(.POST, "/window/rect", ["width": .number(Double(width)), "height": .number(Double(height))])
    }

    /// Makes the page's viewport exactly `width` × `height` CSS pixels (a phone when `mobile`) through the DevTools
    /// protocol's device emulation, which, unlike a window, has no minimum width.
    public func emulateViewport(width: Int, height: Int, mobile: Bool = false) async throws {
        try await devTools("Emulation.setDeviceMetricsOverride", [
            "width": .number(Double(width)), "height": .number(Double(height)), "deviceScaleFactor": 1, "mobile": .bool(mobile),
        ])
    }

    /// Ends a viewport emulation of ``emulateViewport(width:height:mobile:)``.
    public func clearViewportEmulation() async throws {
        try await devTools("Emulation.clearDeviceMetricsOverride", [:])
    }

    /// Sends a Chrome DevTools protocol command (`Network.clearBrowserCache`, `Page.addScriptToEvaluateOnNewDocument`,
    /// ...) through chromedriver and answers its result.
    @discardableResult
    public func devTools(_ method: String, _ parameters: WebDriverValue = [:]) async throws -> WebDriverValue {
        try await execute(.POST, "/goog/cdp/execute", ["cmd": .string(method), "params": parameters])
    }

    /// A PNG of the viewport.
    public func screenshot() async throws -> Data {
        guard let text = try await execute(.GET, "/screenshot").string, let data = Data(base64Encoded: text) else {
            throw FixtureError("chromedriver answered no screenshot")
        }
        return data
    }

    /// A PNG of the viewport written to `file` (its folder created).
    public func screenshot(to file: URL) async throws {
        let data = try await screenshot()
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: file)
    }

    /// The browser console's messages since the last call (level and text), for error messages.
    public func consoleLog() async -> [String] {
        guard let entries = try? await execute(.POST, "/se/log", ["type": "browser"]).array else { return [] }
        return entries.map { "\($0["level"].string ?? "?") \($0["message"].string ?? "")" }
    }

    // MARK: Scripts

    /// Runs `script` (a function body: `return ...`; `arguments[0]`, ...) in the page and answers what it returned.
    @discardableResult
    public func executeScript(_ script: String, _ arguments: [WebDriverValue] = []) async throws -> WebDriverValue {
        try await execute(.POST, "/execute/sync", ["script": .string(script), "args": .array(arguments)])
    }

    /// Runs `script` in the page with a callback as its last argument (`arguments[arguments.length - 1]`) and answers
    /// what was passed to it; fails after `timeout`.
    @discardableResult
    public func executeAsyncScript(_ script: String, _ arguments: [WebDriverValue] = [], timeout: Duration = .seconds(30)) async throws -> WebDriverValue {
        try await execute(.POST, "/timeouts", ["script": .number(Double(timeout.components.seconds * 1000))])
        return try await execute(
            .POST, "/execute/async", ["script": .string(script), "args": .array(arguments)], timeout: timeout + .seconds(10))
    }

    // MARK: Elements

    /// The first element matching the CSS `selector` (at once; ``waitForElement(_:timeout:)`` waits for it).
    public func findElement(_ selector: String) async throws -> Element {
        let value = try await execute(.POST, "/element", ["using": "css selector", "value": .string(selector)])
        return try Element(value, self, selector)
    }

    /// The element that has the focus (`document.activeElement`).
    public func activeElement() async throws -> Element {
        try Element(try await execute(.GET, "/element/active"), self, ":focus")
    }

    /// Every element matching the CSS `selector`, in document order (empty when none does).
    public func findElements(_ selector: String) async throws -> [Element] {
        let value = try await execute(.POST, "/elements", ["using": "css selector", "value": .string(selector)])
        return try (value.array ?? []).map { try Element($0, self, selector) }
    }

    /// An element of the page (a WebDriver element reference). After the page re-renders it may be stale: find it
    /// again, or use the browser's methods that take a selector and retry.
    public struct Element: Sendable, CustomStringConvertible {
        /// The reference.
        public let id: String
        /// The selector it was found by, for messages.
        public let selector: String
        let browser: ChromeBrowser

        init(_ value: WebDriverValue, _ browser: ChromeBrowser, _ selector: String) throws {
            guard let id = value[WebDriverValue.elementKey].string else { throw FixtureError("not an element reference: \(value)") }
            self.id = id
            self.selector = selector
            self.browser = browser
        }

        /// The element as a script argument (`arguments[i]` is the DOM element).
        public var reference: WebDriverValue { [WebDriverValue.elementKey: .string(id)] }

        public var description: String { "element \(selector)" }

        /// Clicks its centre, scrolling it into view first.
        public func click() async throws { try await browser.execute(.POST, "/element/\(id)/click", [:]) }

        /// Types `text` into it (WebDriver keys: ``ChromeBrowser/Key``).
        public func sendKeys(_ text: String) async throws {
            try await browser.execute(.POST, "/element/\(id)/value", ["text": .string(text)])
        }

        /// Empties an input or text area.
        public func clear() async throws { try await browser.execute(.POST, "/element/\(id)/clear", [:]) }

        /// Its rendered text.
        public func text() async throws -> String { try await browser.execute(.GET, "/element/\(id)/text").string ?? "" }

        /// An attribute, or nil when it has none.
        public func attribute(_ name: String) async throws -> String? {
            try await browser.execute(.GET, "/element/\(id)/attribute/\(name)").string
        }

        /// A DOM property (`value`, `checked`, ...).
        public func property(_ name: String) async throws -> WebDriverValue {
            try await browser.execute(.GET, "/element/\(id)/property/\(name)")
        }

        /// Whether it is shown.
        public func isDisplayed() async throws -> Bool {
            try await browser.execute(.GET, "/element/\(id)/displayed").bool ?? false
        }

        /// Whether it can be used (not disabled).
        public func isEnabled() async throws -> Bool {
            try await browser.execute(.GET, "/element/\(id)/enabled").bool ?? false
        }

        /// The first element inside it matching `selector`.
        public func findElement(_ selector: String) async throws -> Element {
            let value = try await browser.execute(.POST, "/element/\(id)/element", ["using": "css selector", "value": .string(selector)])
            return try Element(value, browser, "\(self.selector) \(selector)")
        }

        /// Every element inside it matching `selector`.
        public func findElements(_ selector: String) async throws -> [Element] {
            let value = try await browser.execute(.POST, "/element/\(id)/elements", ["using": "css selector", "value": .string(selector)])
            return try (value.array ?? []).map { try Element($0, browser, "\(self.selector) \(selector)") }
        }
    }

    /// WebDriver's codes of keys that are not characters, for ``Element/sendKeys(_:)``.
    public enum Key {
        public static let backspace = "\u{E003}"
        public static let tab = "\u{E004}"
        public static let enter = "\u{E007}"
        public static let control = "\u{E009}"
        public static let escape = "\u{E00C}"
        public static let end = "\u{E010}"
        public static let home = "\u{E011}"
        public static let arrowLeft = "\u{E012}"
        public static let arrowUp = "\u{E013}"
        public static let arrowRight = "\u{E014}"
        public static let arrowDown = "\u{E015}"
    }

    // MARK: Waiting on the page

    /// Polls `condition` every 50 ms until it holds; on timeout fails with `what`, the page's address, its visible
    /// text and the console. Errors of the condition (a stale element, a missing one) count as "not yet".
    public func waitUntil(
        _ what: @autoclosure () -> String, timeout: Duration = ChromeBrowser.defaultTimeout, _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        var lastError: (any Error)?
        while ContinuousClock.now < deadline {
            do {
                if try await condition() { return }
            } catch {
                lastError = error
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw FixtureError("timed out after \(timeout) waiting for \(what())\(lastError.map { "\nlast error: \($0)" } ?? "")\n\(await pageState())")
    }

    /// Polls until `produce` answers a value (not nil), and answers it.
    public func waitFor<T: Sendable>(
        _ what: @autoclosure () -> String, timeout: Duration = ChromeBrowser.defaultTimeout, _ produce: () async throws -> T?
    ) async throws -> T {
        var result: T?
        try await waitUntil(what(), timeout: timeout) {
            result = try await produce()
            return result != nil
        }
        return result!
    }

    /// Waits until an element matches `selector` and is displayed, and answers it.
    @discardableResult
    public func waitForElement(_ selector: String, timeout: Duration = ChromeBrowser.defaultTimeout) async throws -> Element {
        try await waitFor("an element \(selector)", timeout: timeout) {
            let element = try await self.findElement(selector)
            return try await element.isDisplayed() ? element : nil
        }
    }

    /// Waits until an element matches `selector` (shown or not), and answers it.
    @discardableResult
    public func waitForPresence(_ selector: String, timeout: Duration = ChromeBrowser.defaultTimeout) async throws -> Element {
        try await waitFor("an element \(selector) in the page", timeout: timeout) { try await self.findElement(selector) }
    }

    /// Waits until no displayed element matches `selector`.
    public func waitForAbsence(_ selector: String, timeout: Duration = ChromeBrowser.defaultTimeout) async throws {
        try await waitUntil("no element \(selector) shown", timeout: timeout) {
            for element in try await self.findElements(selector) where try await element.isDisplayed() { return false }
            return true
        }
    }

    /// Waits until the text of the first element matching `selector` satisfies `predicate`, and answers it.
    @discardableResult
    public func waitForText(
        _ selector: String, _ what: String = "", timeout: Duration = ChromeBrowser.defaultTimeout, _ predicate: (String) -> Bool
    ) async throws -> String {
        try await waitFor("the text of \(selector) \(what)", timeout: timeout) {
            let text = try await self.findElement(selector).text()
            return predicate(text) ? text : nil
        }
    }

    /// Finds `selector` (waiting for it to be shown) and clicks it, again when the page re-rendered it in between.
    public func click(_ selector: String, timeout: Duration = ChromeBrowser.defaultTimeout) async throws {
        try await waitUntil("to click \(selector)", timeout: timeout) {
            let element = try await self.findElement(selector)
            guard try await element.isDisplayed(), try await element.isEnabled() else { return false }
            try await element.click()
            return true
        }
    }

    /// Finds `selector`, empties it and types `text` into it.
    public func type(_ selector: String, _ text: String, clearing: Bool = true, timeout: Duration = ChromeBrowser.defaultTimeout) async throws {
        try await waitUntil("to type into \(selector)", timeout: timeout) {
            let element = try await self.findElement(selector)
            guard try await element.isDisplayed() else { return false }
            if clearing { try await element.clear() }
            try await element.sendKeys(text)
            return true
        }
    }

    /// Chooses the option of the `select` element `selector` whose value (or, failing that, text) is `value`, as a
    /// user does: a click on the option (fires `input` and `change`).
    public func select(_ selector: String, value: String, timeout: Duration = ChromeBrowser.defaultTimeout) async throws {
        try await waitUntil("an option \(value) in \(selector)", timeout: timeout) {
            let select = try await self.findElement(selector)
            for option in try await select.findElements("option") {
                let optionValue = try await option.attribute("value")
                let text = try await option.text()
                if optionValue == value || (optionValue == nil && text == value) || text == value {
                    try await option.click()
                    return true
                }
            }
            return false
        }
    }

    /// What the page shows (address, title, start of its text, the console), for failure messages.
    public func pageState() async -> String {
        let url = (try? await currentURL()) ?? "?"
        let text = (try? await executeScript("return document.body ? document.body.innerText : ''").string) ?? "?"
        let console = await consoleLog().suffix(15)
        return "page \(url):\n\(text.prefix(1500))\nconsole:\n\(console.joined(separator: "\n"))"
    }
}
