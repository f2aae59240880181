import Configuration
import Foundation
import VampCore
import VampPulse

/// Pulse's settings (`vamp.pulse.*`, and Vamp 0.9.5's `vamp.operation.health.window` / `metrics.window`): how often
/// the health, metrics and allocation events are published, the windows they cover, the health floor, and how far
/// back the server keeps the gateways' figures.
struct PulseSettings: Sendable {
    static let period = Setting<Duration>.seconds("vamp.pulse.period", default: "5")
    static let retention = Setting<Int>.number(
        "vamp.pulse.retention", default: "600", in: 60...86_400, expected: "a number of seconds from 60 to 86400")
    static let healthWindow = Setting<Duration>.seconds("vamp.operation.health.window", default: "30")
    static let metricsWindow = Setting<Duration>.seconds("vamp.operation.metrics.window", default: "30")
    static let healthFloor = Setting<Double>("vamp.pulse.health.floor", default: "0", expected: "a share from 0 to 1 (1: any 5xx makes health 0)") { text in
        guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value.isFinite, (0...1).contains(value) else { return nil }
        return value
    }

    var pulse: Pulse.Configuration

    init(_ reader: inout SettingsReader) throws(SettingError) {
        let retention = Int64(try reader.read(Self.retention))
        let healthWindow = try reader.read(Self.healthWindow), metricsWindow = try reader.read(Self.metricsWindow)
        for (setting, window) in [(Self.healthWindow, healthWindow), (Self.metricsWindow, metricsWindow)] where window > .seconds(retention) {
            throw SettingError(description: "\(setting.described): \(window) is longer than \(Self.retention.described) (\(retention) s), the figures the server keeps")
        }
        pulse = Pulse.Configuration(
            window: PulseWindow.Configuration(retention: retention), period: try reader.read(Self.period),
            healthWindow: healthWindow, metricsWindow: metricsWindow, healthFloor: try reader.read(Self.healthFloor))
    }
}
