"""A Katana template written the way studios write them for Muster.

Items take Muster's 7-8 positional arguments; the application's path is a
client configuration item (KATAPP) each node sets; the render-client
callbacks read clientTemplatePreferences and the platform and instance APIs.
The test's "Katana" is a small script that prints what it was given.
A job with the attribute `explode` makes onBuildCommandLine raise; `hang`
makes it sleep past the render client's hook time limit. A "KATANA CRASH" line
in the log aborts the render; onJobEnd (a dispatcher hook) writes a line to the
dispatcher's log.
"""

# ruff: noqa: UP031  (written as Muster templates are: %-formatted frames)

import time

import MClientAPI
import MDispatcherAPI
import MInstanceAPI
import MTemplateAPI
import muster


class KatanaTemplate(MTemplateAPI.MTemplate):
    def __init__(self):
        MTemplateAPI.MTemplate.__init__(self)
        self.setID(962)
        self.setName("Katana2.5v5")
        self.setKey("katana")
        self.setDescription("Katana render")
        self.setTemplateLogic(MTemplateAPI.kTemplateMultiframe)
        self.setDefaultPriority(1)
        self.setDefaultPools("")
        self.setDefaultExcludedPools("")
        self.setMaximumLicenses(0)
        self.setLicensesGroup("Katana-licensing")
        self.setDelayGroup("Katana")
        self.setDelay(0)

        scene = MTemplateAPI.MTemplateItemFile(
            "KATFILENAME", "Scene file", "The Katana scene to render", "", 0, 1, 1, "*.katana"
        )
        start = MTemplateAPI.MTemplateItemInteger(
            "KATSTARTFRAME", "Start frame", "The first frame to render", 1, 0, 0, 1
        )
        end = MTemplateAPI.MTemplateItemInteger(
            "KATENDFRAME", "End frame", "The last frame to render", 1, 0, 0, 1
        )
        by = MTemplateAPI.MTemplateItemInteger(
            "KATBYFRAME", "By frame", "The frame step", 1, 0, 0, 1, minimum=1, maximum=100
        )
        node = MTemplateAPI.MTemplateItemString(
            "KATNODE", "Render node", "The render node to render", "", 0, 0, 1
        )
        notes = MTemplateAPI.MTemplateItemString("JOBNOTES", "Job notes", "Notes", "", 0, 0, 1)
        home = MTemplateAPI.MTemplateItemFolder(
            "KATHOME", "Katana root folder", "Where Katana is installed", "/default/path", 0, 0, 1
        )
        for item in (scene, start, end, by, node, notes):
            self.addSubmissionItem(item)
        self.addMapping("KATSTARTFRAME", "start_frame")
        self.addMapping("KATENDFRAME", "end_frame")
        self.addMapping("KATBYFRAME", "by_frame")
        self.addMapping("KATFILENAME", "job_file")
        self.addMapping("KATNODE", "render_node")
        self.addMapping("JOBNOTES", "job_notes")
        self.addMapping("OUTPUTFOLDER", "output_folder")  # mapped, but no such item

        application = MTemplateAPI.MTemplateItemFile(
            "KATAPP",
            "Katana executable",
            "Path to the katana launcher",
            "/opt/katana/katana",
            0,
            0,
            1,
            "*",
        )
        threads = MTemplateAPI.MTemplateItemInteger(
            "KATTHREADS", "Render threads", "Threads per render", 4, 0, 0, 1
        )
        self.platformLinux.setPlatformEnabled(1)
        self.platformLinux.setEnableErrorCheck(1)
        self.platformLinux.setEnabledByDefault(1)
        self.platformLinux.setFramesFloating(0)
        self.platformLinux.setDetectionLogic(MTemplateAPI.kProcessDirect)
        self.platformLinux.addClientConfigurationItem(application)
        self.platformLinux.addClientConfigurationItem(threads)
        self.platformLinux.addClientConfigurationItem(home)
        idle_report = MTemplateAPI.MTemplateItemFile(
            "KATIDLEFILE", "Idle report", "Where onClientIdling writes", "", 0, 0, 1, "*"
        )
        self.platformLinux.addClientConfigurationItem(idle_report)
        windows_app = MTemplateAPI.MTemplateItemFile(
            "KATAPP",
            "Katana executable",
            "Path to katana.exe",
            "C:\\Katana\\katana.exe",
            0,
            0,
            1,
            "*.exe",
        )
        self.platformWindows.setPlatformEnabled(1)
        self.platformWindows.addClientConfigurationItem(windows_app)

    def onGetApplicationPath(self, job, clientTemplatePreferences, pathOut):
        pathOut.setString(clientTemplatePreferences["KATAPP"])
        return MTemplateAPI.MTemplateError()

    def onGetApplicationStartingFolder(self, job, clientTemplatePreferences, pathOut):
        pathOut.setString(job.attributeGetString("workdir"))
        return MTemplateAPI.MTemplateError()

    def onBuildCommandLine(self, platform, job, chunk, clientTemplatePreferences, instanceNum):
        if job.attributeGetString("explode"):
            raise RuntimeError("boom from the Katana template")
        if job.attributeGetString("hang"):
            time.sleep(float(job.attributeGetString("hang")))
        manager = MTemplateAPI.MManager.getUniqueClass()
        scene = job.attributeGetString(manager.resolveMappingToJob(self.getID(), "KATFILENAME"))
        err, instances = MInstanceAPI.getRunningInstances()
        status_err, status = MInstanceAPI.getInstanceStatus(instanceNum)
        line = '--batch --katana-file="' + scene + '"'
        line += " -t " + ("%.0f" % chunk.getStartFrame()) + "-" + ("%.0f" % chunk.getEndFrame())
        node = job.attributeGetString(manager.resolveMappingToJob(self.getID(), "KATNODE"))
        if node:
            line += ' --render-node="' + node + '"'
        line += " --threads=" + str(clientTemplatePreferences["KATTHREADS"])
        line += " --context=" + muster.runningContext()
        line += " --linux=" + str(MClientAPI.GetPlatform() == MClientAPI.kPlatformLinux)
        line += " --platform-arg=" + str(platform == MClientAPI.GetPlatform())
        line += " --instances=" + str(instances) + "/" + str(err.getErrorCode())
        line += " --status=" + str(status) + "/" + str(status_err.getErrorCode())
        return line

    def onBuildAdditionalParameters(
        self, platform, job, chunk, clientTemplatePreferences, instanceNum
    ):
        return "--home=" + clientTemplatePreferences["KATHOME"]

    def onBuildEnvironment(self, job, chunk, clientTemplatePreferences, existingEnvironment):
        existingEnvironment.setValue("KATANA_HOME", clientTemplatePreferences["KATHOME"])
        return existingEnvironment

    def onClientIdling(self, clientTemplatePreferences, instanceNum):
        report = clientTemplatePreferences["KATIDLEFILE"]
        if report:
            err, instances = MInstanceAPI.getRunningInstances()
            status_err, status = MInstanceAPI.getInstanceStatus(instanceNum)
            with open(report, "w") as stream:
                stream.write(
                    "idle %s instance %d of %d status %d/%d"
                    % (muster.runningContext(), instanceNum, instances, status, err.getErrorCode())
                )
        return MTemplateAPI.MTemplateError()

    def onCheckLog(self, job, chunk, clientTemplatePreferences, log):
        if "KATANA CRASH" in log:
            error = MTemplateAPI.MTemplateError(
                2, "Katana crashed", MTemplateAPI.MTemplateError.kTemplateErrorTypeError
            )
            error.addErrorAction(MTemplateAPI.MTemplateError.kTemplateErrorAbortRender)
            return error
        return MTemplateAPI.MTemplateError()

    def onJobEnd(self, job):
        MDispatcherAPI.logAddMessage("katana job %d ended" % job.getJobId())
        return MTemplateAPI.MTemplateError()

    def onCheckExitCode(self, job, chunk, clientTemplatePreferences, exitCode):
        if exitCode != 0:
            return MTemplateAPI.MTemplateError(
                exitCode,
                "Katana exited with %d" % exitCode,
                MTemplateAPI.MTemplateError.kTemplateErrorTypeError,
            )
        return MTemplateAPI.MTemplateError()


MTemplateAPI.MManager.getUniqueClass().installPyTemplate(KatanaTemplate())
