import ArgumentParser
import Foundation
import VampClient

/// The CLI's version (`vamp version`, `vamp --version`).
let cliVersion = "0.1.0"

/// `vamp`: manage Vamp from a shell and from scripts.
@main
struct Vamp: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vamp",
        abstract: "Manage Vamp canary releases from the shell.",
        discussion: """
            Talks to vamp-server at --host, else $VAMP_HOST, else http://127.0.0.1:8080. Exit codes: 0 success, \
            1 a user error (a refused request, bad flags, a missing file), 2 a server or connection error; \
            vamp release --watch: 3 rolled back, 4 aborted, 5 failed.
            """,
        version: cliVersion,
        subcommands: [
            List.self, Describe.self, Create.self, Update.self, Delete.self,
            Deploy.self, Merge.self, Undeploy.self, UpdateGateway.self,
            Emit.self, Events.self, Info.self, VersionCommand.self, Diff.self,
            ReleaseCommands.self, StoreSecret.self, Validate.self, Convert.self, Generate.self,
        ])

    /// Runs the command; errors are one line on stderr (`vamp: …`) and exit 1 (the user's) or 2 (the server's).
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch let error as VampClientError {
            printError("vamp: \(error.message)")
            Foundation.exit(error.isUserError ? 1 : 2)
        } catch {
            let code = exitCode(for: error)
            if code == .success || error is ExitCode || error is CleanExit { exit(withError: error) }
            let message = Self.message(for: error)
            printError("vamp: " + (message.isEmpty ? "\(error)" : message.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")))
            Foundation.exit(1)
        }
    }
}
