import Testing
import VampModel

/// A workflow gives values only to the variables its breed declares (as a blueprint service
/// does), apart from the workflow agent's own `VAMP_*` variables.
@Suite("Workflow environment variables")
struct WorkflowEnvironmentTests {
    static let breed = Breed(
        name: "report:1.0", deployable: Deployable(definition: "acme/report:1.0"),
        environmentVariables: [EnvironmentVariable(name: "REPORT_URL", value: nil), EnvironmentVariable(name: "log_level", alias: "LOG_LEVEL", value: "info")])

    static func workflow(_ breed: ArtifactReference<Breed>, _ variables: [String]) -> Workflow {
        Workflow(name: "nightly", breed: breed, schedule: .daemon, environmentVariables: variables.map { EnvironmentVariable(name: $0, value: "x") })
    }

    @Test("with an inline breed, validation refuses an undeclared variable, naming the workflow, the field and the breed")
    func inlineBreed() {
        let errors = Validation.validate(.workflow(Self.workflow(.inline(Self.breed), ["REPORT_URL", "DEBUG", "log_level"])))
        #expect(errors.count == 1, "\(errors)")
        let error = errors.first
        #expect(error?.code == .invalidArtifact)
        #expect(error?.kind == "workflow")
        #expect(error?.name == "nightly")
        #expect(error?.path == "environment_variables.DEBUG")
        #expect(error?.message.contains("the breed 'report:1.0' does not declare the variable 'DEBUG'") == true, "\(errors)")
        #expect(error?.message.contains("it declares: REPORT_URL, log_level") == true, "\(errors)")
    }

    @Test("declared variables and the workflow agent's VAMP_* variables are accepted")
    func accepted() {
        let variables = ["REPORT_URL", "log_level", "VAMP_WORKFLOW_EXECUTION_TIMEOUT", "VAMP_WORKFLOW_EXECUTION_PERIOD", "VAMP_URL"]
        #expect(Validation.validate(.workflow(Self.workflow(.inline(Self.breed), variables))).isEmpty)
        #expect(Validation.undeclaredEnvironment(workflow: Self.workflow(.inline(Self.breed), variables), breed: Self.breed).isEmpty)
    }

    @Test("a variable is matched by its name, not the alias it is injected as")
    func aliasIsNotTheName() {
        let errors = Validation.undeclaredEnvironment(workflow: Self.workflow(.reference("report:1.0"), ["LOG_LEVEL"]), breed: Self.breed)
        #expect(errors.map(\.path) == ["environment_variables.LOG_LEVEL"])
    }

    @Test("with a breed referenced by name, validation cannot tell; the check on the looked-up breed can")
    func referencedBreed() {
        let workflow = Self.workflow(.reference("report:1.0"), ["REPORT_URL", "DEBUG", "TRACE"])
        #expect(Validation.validate(.workflow(workflow)).isEmpty)
        let errors = Validation.undeclaredEnvironment(workflow: workflow, breed: Self.breed)
        #expect(errors.map(\.path) == ["environment_variables.DEBUG", "environment_variables.TRACE"])
        #expect(errors.allSatisfy { $0.kind == "workflow" && $0.name == "nightly" && $0.code == .invalidArtifact })
    }

    @Test("a breed without variables accepts none but the agent's, and says it declares none")
    func breedWithoutVariables() {
        let bare = Breed(name: "bare:1", deployable: Deployable(definition: "acme/bare:1"))
        let errors = Validation.undeclaredEnvironment(workflow: Self.workflow(.reference("bare:1"), ["VAMP_NAMESPACE", "A"]), breed: bare)
        #expect(errors.count == 1)
        #expect(errors.first?.message.contains("(it declares: none)") == true, "\(errors)")
    }
}
