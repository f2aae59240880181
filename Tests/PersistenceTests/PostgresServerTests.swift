import Foundation
import Testing
import VampTesting

@Suite("PostgresServer fixture")
struct PostgresServerTests {
    /// Without the server binaries the fixture throws (so a PostgreSQL test fails, never skips)
    /// and says which Debian package to install.
    @Test func missingBinariesFailWithAnInstallHint() async throws {
        let error = await #expect(throws: FixtureError.self) {
            try await PostgresServer.start(binaryDirectory: "/nonexistent/postgresql/bin")
        }
        #expect(error?.message.contains("apt-get install postgresql") == true)
        #expect(error?.message.contains("/nonexistent/postgresql/bin") == true)
    }
}
