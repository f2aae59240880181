import VampConcurrency

/// The change feed of the remote drivers: they list what they own every `interval` rather than follow a watch (one
/// list call a second is cheap, and needs no reconnecting, resuming or re-listing), and notice when the list changes.
struct PollingWatcher: Sendable {
    /// The wait between two looks.
    let interval: Duration
    /// What the driver sees now, as lines whose order does not change by itself (the owned containers, pods or apps
    /// with their states and readiness); nil when it cannot be read, which skips the look.
    let look: @Sendable () async -> [String]?
    /// The clock of the waits.
    var clock: any VampClock = SystemClock()

    /// Looks every ``interval`` until the task is cancelled, and calls `changed` whenever a look differs from the last
    /// one read; the first look only sets what the next ones are compared with.
    func run(changed: @Sendable () -> Void) async {
        var last: [String]?
        while !Task.isCancelled {
            if let seen = await look(), seen != last {
                if last != nil { changed() }
                last = seen
            }
            try? await clock.sleep(for: interval)
        }
    }
}
