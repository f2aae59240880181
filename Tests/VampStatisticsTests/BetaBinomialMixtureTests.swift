import Foundation
import Testing
import VampStatistics

/// The mixture test against a share: exact small cases worked out by hand, and its error probability under
/// continuous peeking by simulation.
@Suite("Beta-binomial mixture")
struct BetaBinomialMixtureTests {
    static let uniform = BetaBinomialMixture(a: 1, b: 1)

    @Test("the mixture's probability of a sequence and its evidence, by hand")
    func smallCases() {
        // Beta(1, 1): B(1 + k, 1 + n − k) / B(1, 1) = k! (n − k)! / (n + 1)!.
        #expect(abs(exp(Self.uniform.logMarginal(bad: 1, of: 2)) - 1.0 / 6) < 1e-12)
        #expect(abs(exp(Self.uniform.logEvidence(bad: 1, of: 2, against: 0.5)) - (1.0 / 6) / 0.25) < 1e-12)
        #expect(abs(exp(Self.uniform.logEvidence(bad: 3, of: 3, against: 0.5)) - 2) < 1e-12)
        #expect(abs(exp(Self.uniform.logEvidence(bad: 0, of: 3, against: 0.5)) - 2) < 1e-12)
        // Beta(1, 10): one bad outcome has probability a / (a + b) = 1/11; against 1%, E = (1/11) / 0.01.
        #expect(abs(exp(BetaBinomialMixture.elevated.logEvidence(bad: 1, of: 1, against: 0.01)) - 100.0 / 11) < 1e-9)
        #expect(abs(exp(BetaBinomialMixture.elevated.logEvidence(bad: 0, of: 1, against: 0.01)) - (10.0 / 11) / 0.99) < 1e-12)
        // Beta(1/2, 20): two good outcomes, (20 / 20.5) (21 / 21.5), against 1%: over 0.99².
        let twoGood = (20 / 20.5) * (21 / 21.5) / (0.99 * 0.99)
        #expect(abs(exp(BetaBinomialMixture.rare.logEvidence(bad: 0, of: 2, against: 0.01)) - twoGood) < 1e-12)
        // No observations: no evidence.
        #expect(BetaBinomialMixture.rare.logEvidence(bad: 0, of: 0, against: 0.3) == 0)
    }

    @Test("the counts that reject are the two ends, by hand")
    func rejectionRegions() throws {
        // n = 6, Beta(1, 1) against 1/2: E(k) = 64 · k! (6 − k)! / 7! = 9.14, 1.52, 0.61, 0.46, 0.61, 1.52, 9.14.
        #expect(Self.uniform.rejectionRegion(trials: 6, share: 0.5, alpha: 0.25) == (0, 6))
        #expect(Self.uniform.rejectionRegion(trials: 6, share: 0.5, alpha: 0.5) == (0, 6))
        #expect(Self.uniform.rejectionRegion(trials: 6, share: 0.5, alpha: 0.7) == (1, 5))
        #expect(Self.uniform.rejectionRegion(trials: 6, share: 0.5, alpha: 0.1) == (nil, nil))
        // n = 4: E(0) = E(4) = 3.2 < 4.
        #expect(Self.uniform.rejectionRegion(trials: 4, share: 0.5, alpha: 0.25) == (nil, nil))
        // Against 1% with Beta(1, 10): one bad outcome in one is 9.09 (rejects at α = 0.2), none is 0.92.
        #expect(BetaBinomialMixture.elevated.rejectionRegion(trials: 1, share: 0.01, alpha: 0.2) == (nil, 1))
        #expect(BetaBinomialMixture.elevated.rejectionRegion(trials: 1, share: 0.01, alpha: 0.1) == (nil, nil))
        // Large n: the ends agree with the evidence around them.
        let (low, high) = BetaBinomialMixture.rare.rejectionRegion(trials: 10_000, share: 0.01, alpha: 0.01)
        let (below, above) = (try #require(low), try #require(high))
        for (k, rejects) in [(below, true), (below + 1, false), (above - 1, false), (above, true)] {
            #expect((BetaBinomialMixture.rare.logEvidence(bad: k, of: 10_000, against: 0.01) >= log(100)) == rejects, "\(k)")
        }
        #expect(below < 100 && above > 100)
    }

    /// The property that makes peeking safe: over a whole run, looked at after every observation, the evidence
    /// against the true share reaches 1/α in at most α of runs (Ville's inequality), for either mixture.
    @Test("looked at after every observation, the evidence against the true share reaches 1/α in at most α of runs",
          arguments: [(BetaBinomialMixture.rare, 0.01), (BetaBinomialMixture.elevated, 0.05), (BetaBinomialMixture(a: 1, b: 1), 0.3)])
    func typeOneError(mixture: BetaBinomialMixture, share: Double) {
        var random = SeededRandom(seed: 2027)
        let (runs, length, alpha) = (400, 2000, 0.05)
        var rejected = 0
        for _ in 0..<runs {
            var bad = 0
            for trial in 1...length {
                if Double.random(in: 0..<1, using: &random) < share { bad += 1 }
                if mixture.logEvidence(bad: bad, of: trial, against: share) >= log(1 / alpha) {
                    rejected += 1
                    break
                }
            }
        }
        #expect(Double(rejected) / Double(runs) <= alpha, "\(rejected) of \(runs) runs")
    }
}
