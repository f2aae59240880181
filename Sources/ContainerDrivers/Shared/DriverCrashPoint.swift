/// A moment between two steps of a driver's work at which a crash test stops the server with SIGKILL
/// (``LocalProcessDriver/Configuration/crashPoint``, ``DockerDriver/Configuration/crashPoint``): the states a driver made
/// after the crash must find consistent, adopting or removing what the killed one left, never leaking or doubling it.
package enum DriverCrashPoint: String, Sendable, Hashable, CaseIterable {
    /// Local: an instance's process runs; its pid is not recorded yet (only the run it was started for is).
    case spawned
    /// Local: an instance's process group was sent SIGTERM to stop it; its records are still there.
    case signalled
    /// Docker: a container was created with its labels and is not started yet.
    case created
}
