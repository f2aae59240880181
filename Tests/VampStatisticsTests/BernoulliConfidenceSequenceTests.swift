import Foundation
import Testing
import VampStatistics

@Suite("Bernoulli confidence sequences")
struct BernoulliConfidenceSequenceTests {
    @Test("the interval holds the estimate, narrows with data, and its ends are where the mixture reaches 1/α")
    func shape() {
        let sequence = BernoulliConfidenceSequence()
        let small = sequence.interval(successes: 5, trials: 100, alpha: 0.01)
        let large = sequence.interval(successes: 500, trials: 10_000, alpha: 0.01)
        #expect(small.contains(0.05) && large.contains(0.05))
        #expect(large.upperBound - large.lowerBound < (small.upperBound - small.lowerBound) / 5)
        for end in [small.lowerBound, small.upperBound] {
            #expect(abs(sequence.logMixture(successes: 5, trials: 100, mean: end) - log(100)) < 1e-6)
        }
        #expect(sequence.interval(successes: 0, trials: 50, alpha: 0.01).lowerBound == 0)
        #expect(sequence.interval(successes: 50, trials: 50, alpha: 0.01).upperBound == 1)
        #expect(sequence.interval(successes: 0, trials: 0, alpha: 0.01) == 0...1)
    }

    /// The property that makes peeking safe: over a whole run, checked after every observation, the interval misses
    /// the true mean in at most a share α of runs (Ville's inequality), where a fixed-sample interval checked as
    /// often misses far more.
    @Test("checked after every observation, the interval misses the true mean in at most α of runs", arguments: [0.01, 0.2])
    func timeUniformCoverage(mean: Double) {
        var random = SeededRandom(seed: 2026)
        let sequence = BernoulliConfidenceSequence()
        let (runs, length, alpha) = (200, 2000, 0.05)
        var missed = 0
        for _ in 0..<runs {
            var successes = 0
            for trial in 1...length {
                if Double.random(in: 0..<1, using: &random) < mean { successes += 1 }
                // Every observation for the first 100, then every tenth (the bounds move slowly).
                guard trial <= 100 || trial % 10 == 0 else { continue }
                if !sequence.interval(successes: successes, trials: trial, alpha: alpha).contains(mean) {
                    missed += 1
                    break
                }
            }
        }
        #expect(Double(missed) / Double(runs) <= alpha, "\(missed) of \(runs) runs missed \(mean)")
    }
}
