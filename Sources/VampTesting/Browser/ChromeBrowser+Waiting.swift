public import Foundation
import NIOHTTP1

extension ChromeBrowser {
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
