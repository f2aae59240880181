/// Runs `body` to its end in a task of its own, which the caller's cancellation does not reach, and returns its result:
/// for the steps that must be taken even when the caller is cancelled (stopping a one-off run, removing its container).
/// The task is awaited, so nothing outlives the call.
func withoutCancellation<Result: Sendable>(_ body: @escaping @Sendable () async -> Result) async -> Result {
    await Task { await body() }.value
}
