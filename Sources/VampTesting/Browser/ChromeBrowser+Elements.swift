public import Foundation
import NIOHTTP1

extension ChromeBrowser {
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
}
