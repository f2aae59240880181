public import Foundation
public import VampModel

extension ReleasePlanner {
    /// A release that waits for the canary it merged (`Release.mergeCanary`): the canary's start leads to the first
    /// step; a canary that does not run within `InsufficientDataRule.after` fails the release (whatever its `then`:
    /// holding is for a lack of requests, not for a deployment that does not come up). Figures are not evidence yet:
    /// the canary has no traffic, and both routes are judged over the same time. Pause, resume, abort and a halt are
    /// handled as at any step (returns `false` for them); approve and promote wait for the first step.
    static func waitForCanary(
        _ release: Release, _ state: inout ReleaseState, _ actions: inout [ReleaseAction], _ input: ReleaseInput, since: Date, now: Date
    ) -> Bool {
        switch input {
        case .canaryDeployed(let what):
            // A paused release takes its first step after `resume`: the driver says so again then.
            guard state.phase == .progressing else { return true }
            state.waitingForCanarySince = nil
            decide(&state, &actions, .canaryDeployed, now: now, "\(release.canary) runs (\(what)): the first step comes")
            enter(step: 0, release, &state, &actions, now: now)
            return true
        case .figures, .tick:
            let wait = release.insufficientData.after
            guard state.phase == .progressing, now.timeIntervalSince(since) >= Double(wait.seconds) else { return true }
            finish(.failed, release, &state, &actions, now: now, "\(release.canary), merged by the release, did not run within \(wait): failed")
            return true
        case .command(.approve), .command(.promote), .webhookAnswered:
            return true
        case .command, .halt, .manualWeightChange:
            return false
        }
    }
}
