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
/// do {
///     try await browser.navigate(to: "http://127.0.0.1:8080/#/deployments")
///     try await browser.waitForElement("main[data-test=page][data-ready=true]")
/// } catch {
///     await browser.tearDown()
///     throw error
/// }
/// await browser.tearDown()
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
}
