import Foundation
import NIOHTTP1
import Testing
import VampTesting

/// The secrets page in a real browser (headless Chromium) against the built `vamp-server` with its embedded gateway
/// agent: a certificate stored from a PEM file, checked and refused, shown without its key, named by a gateway and
/// deleted, each through the page's own controls and checked through the API. By the `data-test` contract only
/// (Documentation/ui.md).
@Suite("End to end: secrets in the web UI in Chromium", .serialized)
struct WebUISecretTests {
    static let row = "[data-test=secret-row][data-name=shop]"

    @Test("a PEM file chosen in the page is checked (nothing stored), then stored: the row says what the certificate is for and until when, the text leaves the page and the key is nowhere in it; garbage is refused naming the certificate; a gateway naming the secret appears in its row without a reload and its page says HTTPS; delete waits until no gateway names it, then asks first")
    func storeCheckDelete() async throws {
        let authority = try await TestCertificateAuthority()
        defer { authority.remove() }
        let file = try await authority.serverCertificate(fileName: "shop.pem", commonName: "shop-v1", serial: 1)
        try await UISession.run { ui in
            let client = ui.client, api = ui.server.api
            try await ui.browser.emulateViewport(width: 1280, height: 800)
            try await ui.signIn()
            try await ui.browser.click("a[data-test=nav-secrets]")
            try await ui.waitForPage("secrets")
            #expect(try await ui.browser.findElements("[data-test=secret-row]").isEmpty)

            // The file: its text in the page, the name taken from the file's.
            try await ui.browser.findElement("input[data-test=secret-file]").sendKeys(file.path)
            try await ui.browser.waitUntil("the file's text in the page") {
                try await ui.browser.executeScript("return document.querySelector('[data-test=secret-pem]').value").string?
                    .contains("BEGIN CERTIFICATE") == true
            }
            #expect(try await ui.browser.executeScript("return document.querySelector('[data-test=secret-name]').value").string == "shop")

            // Check: valid, and nothing stored.
            try await ui.browser.click("button[data-test=secret-check]")
            let checked = try await ui.browser.waitForText("[data-test=secret-status]", "to say the certificate is valid") { $0.hasPrefix("Valid") }
            #expect(checked.contains("shop.test"), "\(checked)")
            #expect(try await CanaryReleaseTests.call(client, .GET, "\(api)/secrets").1 == "[]")

            // Store: the row, the text gone from the page, the key nowhere in it.
            try await ui.browser.click("button[data-test=secret-store]")
            try await ui.browser.waitForElement(Self.row)
            #expect(try await ui.browser.findElement("\(Self.row) [data-test=secret-names]").text().contains("shop.test"))
            // The test authority's certificates last two days: within the 30 days the page warns of.
            #expect(try await ui.browser.findElement("\(Self.row) [data-test=secret-expiry]").text() == "ends in 1 day")
            #expect(try await ui.browser.findElement(Self.row).attribute("data-expiry") == "warn")
            #expect(try await ui.browser.findElement("[data-test=secret-status]").text().hasPrefix("Stored shop"))
            #expect(try await ui.browser.executeScript("return document.querySelector('[data-test=secret-pem]').value").string == "")
            let page = try await ui.browser.executeScript("return document.documentElement.outerHTML").string ?? ""
            let text = try String(contentsOf: file, encoding: .utf8)
            #expect(!page.isEmpty && !page.contains("PRIVATE KEY"), "the page shows the key's header")
            #expect(!TestCertificateAuthority.keyLines(text).contains { page.contains($0) }, "the page shows a line of the key")
            #expect(try await CanaryReleaseTests.call(client, .GET, "\(api)/secrets/shop").0 == 200)

            // Garbage: refused, the message names the certificate, nothing stored.
            try await ui.browser.type("input[data-test=secret-name]", "bad")
            try await ui.browser.type("textarea[data-test=secret-pem]", "-----BEGIN CERTIFICATE-----\nnot one\n-----END CERTIFICATE-----\n")
            try await ui.browser.click("button[data-test=secret-store]")
            let refusal = try await ui.browser.waitForText("[data-test=error]", "to show the refusal") { !$0.isEmpty }
            #expect(refusal.contains("400") && refusal.contains("certificate"), "\(refusal)")
            #expect(try await CanaryReleaseTests.call(client, .GET, "\(api)/secrets/bad").0 == 404)
            #expect(try await ui.browser.findElements("[data-test=secret-row][data-name=bad]").isEmpty)
            // Editing what was refused clears the message.
            try await ui.browser.type("input[data-test=secret-name]", "shop-2")
            try await ui.browser.waitForAbsence("[data-test=error]")

            // A gateway names it (through the API): its row shows the gateway without a reload, and delete waits.
            try await ui.browser.executeScript("window.__vampNoReload = 'still here'")
            let port = try FreePort.next(), backend = try FreePort.next()
            let gateway = "name: shop\nport: \(port)/http\nroutes:\n  \"[127.0.0.1:\(backend)]\": {weight: 100%}\ntls: {secret: shop}\n"
            let (created, answer) = try await CanaryReleaseTests.call(client, .POST, "\(api)/gateways", yaml: gateway)
            #expect(created == 202, "\(answer)")
            try await ui.browser.waitForElement("\(Self.row) a[data-test=secret-gateway]", timeout: .seconds(10))
            #expect(try await ui.browser.findElement("\(Self.row) button[data-test=secret-delete]").isEnabled() == false)
            #expect(try await ui.browser.executeScript("return window.__vampNoReload").string == "still here", "no reload")
            try await ui.screenshot("secrets")

            // Its gateway's page says HTTPS with the secret.
            try await ui.browser.click("\(Self.row) a[data-test=secret-gateway]")
            try await ui.waitForPage("gateway")
            let tls = try await ui.browser.waitForText("[data-test=gateway-tls]", "to show the gateway's TLS") { !$0.isEmpty }
            #expect(tls.contains("HTTPS") && tls.contains("secret shop"), "\(tls)")

            // The gateway gone, delete is offered; it asks first, and Cancel keeps the secret.
            #expect(try await CanaryReleaseTests.call(client, .DELETE, "\(api)/gateways/shop").0 == 202)
            try await ui.browser.click("a[data-test=nav-secrets]")
            try await ui.waitForPage("secrets")
            try await ui.browser.waitUntil("delete enabled") {
                try await ui.browser.findElement("\(Self.row) button[data-test=secret-delete]").isEnabled()
            }
            try await ui.browser.click("\(Self.row) button[data-test=secret-delete]")
            try await ui.browser.click("button[data-test=secret-cancel]")
            #expect(try await CanaryReleaseTests.call(client, .GET, "\(api)/secrets/shop").0 == 200)
            try await ui.browser.click("\(Self.row) button[data-test=secret-delete]")
            try await ui.browser.click("button[data-test=secret-confirm]")
            try await ui.browser.waitForAbsence(Self.row)
            #expect(try await CanaryReleaseTests.call(client, .GET, "\(api)/secrets/shop").0 == 404)
        }
    }
}
