import Foundation
import NIOHTTP1
import VampDSL
public import VampModel

/// A release as the server reports it: the document and, once it started, where it is.
public struct ReleaseReport: Sendable, Hashable {
    /// The release's document.
    public var release: Release
    /// Its status; `nil` when the server gave none.
    public var status: ReleaseStatus?
}

/// What someone can do with a running release (`POST /api/v1/releases/{name}/{action}`).
public enum ReleaseControl: String, Sendable, Hashable, CaseIterable {
    /// Stop moving; the weights stay as they are.
    case pause
    /// Go on after a pause.
    case resume
    /// Let the release into the step that waits for approval.
    case approve
    /// Give the canary all the traffic now, skipping the remaining steps.
    case promote
    /// Put the canary at 0% at once and end the release.
    case abort
}

extension VampClient {
    // MARK: Releases

    /// Stores the release of `document` (YAML or JSON, `kind: release`) and starts it (`POST /releases`): its first
    /// step's weights are written before the answer. With `validateOnly` nothing is stored or started.
    ///
    /// - Throws: `VampClientError` with code `refused` when the document does not validate (the message names the
    ///   field), a deployment, cluster, port or service does not exist (400), or another release of the same
    ///   gateway is running (409).
    @discardableResult
    public func startRelease(_ document: String, validateOnly: Bool = false) async throws(VampClientError) -> ReleaseReport {
        let answer = try await send(.POST, "releases", query: Self.validating(validateOnly), body: document)
        guard let report = try Self.releaseReports(answer.text).first else {
            throw VampClientError(.invalidAnswer, status: answer.status, message: "the server answered no release")
        }
        return report
    }

    /// A release with its status, or `nil` when there is none by that name.
    public func release(_ name: String) async throws(VampClientError) -> ReleaseReport? {
        guard let answer = try await getIfFound("releases/\(Self.path(name))") else { return nil }
        return try Self.releaseReports(answer.text).first
    }

    /// Every release (all pages) with its status.
    public func releases() async throws(VampClientError) -> [ReleaseReport] {
        var reports: [ReleaseReport] = []
        var page = 1
        while true {
            let answer = try await send(.GET, "releases", query: [("page", String(page)), ("per_page", "30")])
            let items = try Self.releaseReports(answer.text)
            reports += items
            let total = answer.headers.first(name: "X-Total-Count").flatMap { Int($0) } ?? reports.count
            if items.isEmpty || reports.count >= total { return reports }
            page += 1
        }
    }

    /// Pauses, resumes, approves, promotes or aborts the release `name`; returns it with its status after the
    /// action (an abort has put the canary at 0%).
    ///
    /// - Throws: `VampClientError` with code `notFound` for an unknown release, and `refused` (409) when the action
    ///   does not apply now; the message says why ("release 'x' is promoted: it cannot be paused").
    @discardableResult
    public func control(release name: String, _ action: ReleaseControl) async throws(VampClientError) -> ReleaseReport {
        let answer = try await send(.POST, "releases/\(Self.path(name))/\(action.rawValue)")
        guard let report = try Self.releaseReports(answer.text).first else {
            throw VampClientError(.invalidAnswer, status: answer.status, message: "the server answered no release")
        }
        return report
    }

    /// Reads an answer holding one release (a JSON object) or several (an array), each with its `status`: the
    /// document is read by the DSL reader without its status, the status by `JSONDecoder`.
    static func releaseReports(_ text: String) throws(VampClientError) -> [ReleaseReport] {
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        } catch {
            throw VampClientError(.invalidAnswer, message: "the server's answer is not JSON: \(error)")
        }
        let objects: [[String: JSONValue]]
        switch value {
        case .object(let object): objects = [object]
        case .array(let items):
            objects = items.compactMap { if case .object(let object) = $0 { object } else { nil } }
        default: throw VampClientError(.invalidAnswer, message: "the server's answer is not a release")
        }
        return try objects.map { object throws(VampClientError) in try releaseReport(object) }
    }

    static func releaseReport(_ object: [String: JSONValue]) throws(VampClientError) -> ReleaseReport {
        var document = object
        let status = document.removeValue(forKey: "status")
        let release: Release
        do {
            let text = String(decoding: try JSONEncoder().encode(JSONValue.object(document)), as: UTF8.self)
            guard case .release(let read)? = try DSLReader.read(text, kind: .release).first?.artifact else {
                throw VampClientError(.invalidAnswer, message: "the server's answer is not a release")
            }
            release = read
        } catch let error as VampClientError {
            throw error
        } catch {
            throw VampClientError(.invalidAnswer, message: "the server's release does not read: \(error)")
        }
        guard let status, status != .null else { return ReleaseReport(release: release, status: nil) }
        do {
            let data = try JSONEncoder().encode(status)
            return ReleaseReport(release: release, status: try JSONDecoder().decode(ReleaseStatus.self, from: data))
        } catch {
            throw VampClientError(.invalidAnswer, message: "the status of release '\(release.name)' does not read: \(error)")
        }
    }
}
