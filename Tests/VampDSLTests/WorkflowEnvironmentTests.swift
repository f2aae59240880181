import Testing
import VampDSL
import VampModel

/// A workflow's `environment_variables` may only set what its breed declares; the errors carry
/// the line whether the breed is inline (validation) or stored (checked once it is looked up).
@Suite("Workflow variables its breed does not declare")
struct WorkflowEnvironmentDSLTests {
    @Test("an inline breed: load refuses the undeclared variable with its line, and only it")
    func inlineBreed() {
        let yaml = """
        kind: workflow
        name: nightly
        schedule: daemon
        breed:
          name: report:1.0
          deployable: acme/report:1.0
          environment_variables: {REPORT_URL: ~}
        environment_variables:
          REPORT_URL: http://reports.test
          VAMP_WORKFLOW_EXECUTION_TIMEOUT: 10
          DEBUG: "true"
        """
        #expect {
            _ = try DSLReader.load(yaml)
        } throws: { error in
            let errors = (error as? VampErrors)?.errors ?? []
            return errors.count == 1 && errors[0].path == "environment_variables.DEBUG" && errors[0].line == 11
                && errors[0].kind == "workflow" && errors[0].name == "nightly" && errors[0].message.contains("'DEBUG'")
        }
    }

    @Test("a stored breed: the document locates the errors of the check made once the breed is looked up")
    func storedBreed() throws {
        let text = "kind: workflow\nname: nightly\nschedule: daemon\nbreed: report:1.0\nenvironment_variables:\n  REPORT_URL: http://reports.test\n  DEBUG: \"true\"\n"
        let document = try #require(try DSLReader.load(text).first)
        guard case .workflow(let workflow) = document.artifact else {
            Issue.record("expected a workflow")
            return
        }
        let stored = Breed(name: "report:1.0", deployable: Deployable(definition: "acme/report:1.0"), environmentVariables: [EnvironmentVariable(name: "REPORT_URL", value: nil)])
        let errors = document.locate(Validation.undeclaredEnvironment(workflow: workflow, breed: stored))
        #expect(errors.map(\.path) == ["environment_variables.DEBUG"])
        #expect(errors.first?.line == 7)
        #expect(errors.first?.description.contains("workflow 'nightly', field environment_variables.DEBUG, line 7") == true, "\(errors)")
    }
}
