import ArgumentParser

/// `vamp`: manage Vamp from a shell and from scripts.
@main
struct Vamp: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vamp",
        abstract: "Manage Vamp canary releases from the shell.",
        version: "0.1.0",
        subcommands: [Validate.self, Convert.self, Generate.self])
}
