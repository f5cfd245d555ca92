using System.Diagnostics;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Xunit.Abstractions;

namespace Smp.Cli.Tests;

/// <summary>
/// The Dockerfile, .dockerignore and systemd units (docs/deploy.md), checked as far as a machine without a
/// Docker engine allows: their directives, that what they copy and run exists, and systemd's own checks
/// where systemd-analyze is installed (otherwise those pass with a note in the test output).
/// </summary>
public sealed partial class DeploymentFilesTests(ITestOutputHelper output)
{
    private static readonly string Root = OptionLayersTests.RepoRoot();

    private static string Read(string relative) => File.ReadAllText(Path.Combine(Root, relative));

    // ---- Dockerfile ----

    private sealed record Instruction(string Name, string Args, int Stage);

    /// <summary>Instructions with continuation lines joined and comments dropped; Stage counts FROMs from 0.</summary>
    private static List<Instruction> Dockerfile()
    {
        var result = new List<Instruction>();
        var stage = -1;
        var pending = "";
        foreach (var raw in Read("Dockerfile").Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (pending.Length == 0 && (line.TrimStart().StartsWith('#') || line.Trim().Length == 0)) continue;
            if (line.EndsWith('\\'))
            {
                pending += line[..^1] + " ";
                continue;
            }
            line = (pending + line).Trim();
            pending = "";
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            var name = (space < 0 ? line : line[..space]).ToUpperInvariant();
            if (name == "FROM") stage++;
            result.Add(new Instruction(name, space < 0 ? "" : Whitespace().Replace(line[(space + 1)..].Trim(), " "), stage));
        }
        return result;
    }

    [Fact]
    public void The_image_is_built_by_the_sdk_and_runs_on_the_runtime_as_a_user_that_is_not_root()
    {
        var d = Dockerfile();
        var froms = d.Where(i => i.Name == "FROM").ToList();
        Assert.Equal(2, froms.Count);
        var sdkVersion = Regex.Match(Read("global.json"), "\"version\"\\s*:\\s*\"(\\d+\\.\\d+)").Groups[1].Value;
        Assert.Equal($"mcr.microsoft.com/dotnet/sdk:{sdkVersion} AS build", froms[0].Args);
        // A project that needs ASP.NET Core (the metrics endpoint) does not start on the plain runtime image.
        var image = ProjectsSmpNeeds().Any(p => Read(p).Contains("<FrameworkReference Include=\"Microsoft.AspNetCore.App\"", StringComparison.Ordinal))
            ? new[] { "aspnet" }
            : ["runtime", "aspnet"];
        Assert.Contains(froms[1].Args, image.Select(i => $"mcr.microsoft.com/dotnet/{i}:{sdkVersion}"));
        Assert.Contains($"<TargetFramework>net{sdkVersion}</TargetFramework>", Read("Directory.Build.props"), StringComparison.Ordinal);

        Assert.Contains(d, i => i.Stage == 0 && i.Name == "RUN" && i.Args.StartsWith("dotnet publish src/Smp.Cli -c Release", StringComparison.Ordinal));
        Assert.Contains(d, i => i.Stage == 1 && i.Name == "COPY" && i.Args.StartsWith("--from=build /app", StringComparison.Ordinal));

        var user = d.Last(i => i.Stage == 1 && i.Name == "USER").Args;
        Assert.DoesNotMatch("^(root|0)(:.*)?$", user);
        // Nothing after USER runs as root again, and the entry point comes after it.
        Assert.True(d.FindLastIndex(i => i.Name == "USER") < d.FindIndex(i => i.Name == "ENTRYPOINT"));

        Assert.Contains(d, i => i.Stage == 1 && i.Name == "VOLUME" && i.Args.Contains("/data", StringComparison.Ordinal));
        var env = string.Join(' ', d.Where(i => i.Stage == 1 && i.Name == "ENV").Select(i => i.Args));
        Assert.Contains("SMP_SERVER_DATA=/data", env, StringComparison.Ordinal);
        Assert.Contains("SMP_AGENT_DB=/data/", env, StringComparison.Ordinal);
        Assert.Equal("[\"dotnet\", \"/app/smp.dll\"]", d.Single(i => i.Name == "ENTRYPOINT").Args);
        Assert.Equal("[\"server\"]", d.Single(i => i.Name == "CMD").Args);
    }

    [Fact]
    public void The_variables_the_image_sets_are_options_of_smp()
    {
        var env = string.Join(' ', Dockerfile().Where(i => i.Name == "ENV").Select(i => i.Args));
        var names = Regex.Matches(env, @"(SMP_[A-Z_]+)=").Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(names);
        var root = Program.CreateRoot();
        foreach (var name in names)
        {
            // A variable that named no option would stop the command it belongs to.
            var command = name.Split('_')[1].ToLowerInvariant();
            var p = Program.Prepare(root, [command, "--help"], new Dictionary<string, string>());
            var known = p.Parse.CommandResult.Command.Options.Select(o => $"SMP_{command.ToUpperInvariant()}_{o.Name.TrimStart('-').ToUpperInvariant().Replace('-', '_')}");
            Assert.Contains(name, known);
        }
    }

    [Fact]
    public void Everything_the_build_stage_copies_exists_and_every_project_smp_needs_is_restored()
    {
        var d = Dockerfile();
        var copies = d.Where(i => i.Stage == 0 && i.Name == "COPY").Select(i => i.Args.Split(' ')).ToList();
        var sources = copies.SelectMany(parts => parts[..^1]).ToList();
        foreach (var source in sources)
            Assert.True(File.Exists(Path.Combine(Root, source)) || Directory.Exists(Path.Combine(Root, source)), $"the Dockerfile copies {source}, which does not exist");

        // The restore layer holds each project file src/Smp.Cli references, directly or not.
        foreach (var project in ProjectsSmpNeeds()) Assert.Contains(project, sources);
    }

    /// <summary>src/Smp.Cli/Smp.Cli.csproj and every project it references, directly or not, relative to the root.</summary>
    private static SortedSet<string> ProjectsSmpNeeds()
    {
        var needed = new SortedSet<string>(StringComparer.Ordinal);
        var queue = new Queue<string>(["src/Smp.Cli/Smp.Cli.csproj"]);
        while (queue.TryDequeue(out var project))
        {
            if (!needed.Add(project)) continue;
            var dir = Path.GetDirectoryName(project)!;
            foreach (var reference in XDocument.Parse(Read(project)).Descendants("ProjectReference"))
            {
                var full = Path.GetFullPath(Path.Combine(Root, dir, reference.Attribute("Include")!.Value.Replace('\\', '/')));
                queue.Enqueue(Path.GetRelativePath(Root, full).Replace('\\', '/'));
            }
        }
        return needed;
    }

    /// <summary>A .dockerignore pattern as a regex over slash-separated paths relative to the context.</summary>
    private static Regex IgnorePattern(string pattern)
    {
        pattern = pattern.Trim().TrimStart('/').TrimEnd('/');
        var regex = Regex.Escape(pattern).Replace(@"\*\*/", "(.*/)?", StringComparison.Ordinal)
            .Replace(@"\*", "[^/]*", StringComparison.Ordinal).Replace(@"\?", "[^/]", StringComparison.Ordinal);
        return new Regex($"^{regex}$");
    }

    private static bool Ignored(string path, List<Regex> patterns)
    {
        // A path is left out if it or a folder above it matches.
        var parts = path.Split('/');
        for (var n = 1; n <= parts.Length; n++)
        {
            var prefix = string.Join('/', parts[..n]);
            if (patterns.Any(p => p.IsMatch(prefix))) return true;
        }
        return false;
    }

    [Fact]
    public void The_docker_context_keeps_build_output_keys_and_databases_out_and_the_sources_in()
    {
        var lines = Read(".dockerignore").Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        Assert.DoesNotContain(lines, l => l.StartsWith('!')); // no exceptions to reason about
        var patterns = lines.Select(IgnorePattern).ToList();

        foreach (var kept in new[] { "global.json", "Directory.Build.props", "Directory.Packages.props", "src/Smp.Cli/Program.cs", "src/Smp.Cli/Smp.Cli.csproj" })
            Assert.False(Ignored(kept, patterns), $"{kept} is needed by the build but .dockerignore leaves it out");
        foreach (var file in Directory.EnumerateFiles(Path.Combine(Root, "src"), "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(Root, file).Replace('\\', '/');
            if (relative.Contains("/bin/", StringComparison.Ordinal) || relative.Contains("/obj/", StringComparison.Ordinal)) continue;
            Assert.False(Ignored(relative, patterns), $"{relative} is a source file but .dockerignore leaves it out");
        }
        foreach (var left in new[]
                 {
                     "src/Smp.Cli/bin/Debug/net10.0/smp.dll", "src/Smp.Agent/obj/project.assets.json", ".git/config",
                     "smp-server-data/server_key.pem", "data/agent.db", "src/x/agent.db-wal", "tests/Smp.Cli.Tests/Cli.cs",
                     "bench-results/run.csv", "agent.db.lock",
                 })
            Assert.True(Ignored(left, patterns), $".dockerignore lets {left} into the build context");
    }

    // ---- systemd units ----

    /// <summary>The keys of a unit file: section → key → values in order (a key may repeat).</summary>
    private static Dictionary<string, Dictionary<string, List<string>>> Unit(string name)
    {
        var sections = new Dictionary<string, Dictionary<string, List<string>>>(StringComparer.Ordinal);
        Dictionary<string, List<string>>? current = null;
        foreach (var raw in Read($"deploy/{name}").Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#') || line.StartsWith(';')) continue;
            if (line.StartsWith('['))
            {
                current = sections[line.Trim('[', ']')] = new(StringComparer.Ordinal);
                continue;
            }
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            Assert.True(current is not null && eq > 0, $"{name}: '{line}' is not key=value in a section");
            var key = line[..eq];
            if (!current!.TryGetValue(key, out var values)) current[key] = values = [];
            values.Add(line[(eq + 1)..]);
        }
        return sections;
    }

    public static TheoryData<string, string> Units => new()
    {
        { "smp-server.service", "server --data %S/smp-server" },
        { "smp-agent.service", "agent --db %S/smp-agent/agent.db" },
    };

    [Theory]
    [MemberData(nameof(Units))]
    public void A_unit_runs_smp_with_its_state_directory_and_the_usual_hardening(string name, string arguments)
    {
        var service = Unit(name)["Service"];
        string One(string key) => Assert.Single(service.TryGetValue(key, out var v) ? v : []);

        var state = One("StateDirectory");
        Assert.Equal($"/opt/smp/smp {arguments}", One("ExecStart"));
        Assert.Contains($"%S/{state}", One("ExecStart"), StringComparison.Ordinal);
        Assert.Equal("yes", One("DynamicUser"));
        Assert.Equal("0700", One("StateDirectoryMode"));
        Assert.Equal("yes", One("NoNewPrivileges"));
        Assert.Equal("strict", One("ProtectSystem"));
        Assert.Equal("yes", One("ProtectHome"));
        Assert.Equal("yes", One("PrivateTmp"));
        Assert.Equal("yes", One("PrivateDevices"));
        Assert.Equal("", One("CapabilityBoundingSet"));
        Assert.Equal("@system-service", One("SystemCallFilter"));
        Assert.Equal("native", One("SystemCallArchitectures"));
        Assert.Equal(["AF_INET", "AF_INET6", "AF_UNIX"], One("RestrictAddressFamilies").Split(' ').Order(StringComparer.Ordinal));
        foreach (var key in new[] { "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID", "LockPersonality" })
            Assert.Equal("yes", One(key));
        // The JIT needs writable, executable memory: this one would stop the process at its first method.
        Assert.False(service.ContainsKey("MemoryDenyWriteExecute"), $"{name} sets MemoryDenyWriteExecute, which .NET cannot run under");
        Assert.StartsWith("-/etc/smp/", One("EnvironmentFile"), StringComparison.Ordinal);
        Assert.Equal("on-failure", One("Restart"));
        Assert.Equal("multi-user.target", Assert.Single(Unit(name)["Install"]["WantedBy"]));
    }

    /// <summary>The unit with its program replaced by one that exists here, in a folder of its own.</summary>
    private static string Staged(string name)
    {
        var dir = Directory.CreateTempSubdirectory("smp-units-").FullName;
        var path = Path.Combine(dir, name);
        File.WriteAllText(path, Read($"deploy/{name}").Replace("/opt/smp/smp", "/bin/true", StringComparison.Ordinal));
        return path;
    }

    private static string? Tool(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
        .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    private static async Task<(int Code, string Output)> RunAsync(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["SYSTEMD_COLORS"] = "0";
        using var p = Process.Start(start)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return (p.ExitCode, await stdout + await stderr);
    }

    [Theory]
    [MemberData(nameof(Units))]
    public async Task A_unit_passes_systemd_analyze_verify_where_systemd_is_installed(string name, string arguments)
    {
        _ = arguments;
        var tool = Tool("systemd-analyze");
        if (tool is null || !File.Exists("/bin/true"))
        {
            output.WriteLine($"NOTE: systemd-analyze is not installed here; {name} was checked by its directives only.");
            return;
        }
        var path = Staged(name);
        try
        {
            var (code, text) = await RunAsync(tool, "verify", "--man=no", path);
            // verify warns about unknown keys and bad values but still exits 0: any word about our file fails.
            var ours = text.Split('\n').Where(l => l.Contains(name, StringComparison.Ordinal)).ToList();
            Assert.True(code == 0 && ours.Count == 0, $"systemd-analyze verify {name} (exit {code}):\n{text}");
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }

    [Theory]
    [MemberData(nameof(Units))]
    public async Task A_units_exposure_by_systemd_analyze_security_is_at_most_2_where_systemd_can_tell(string name, string arguments)
    {
        _ = arguments;
        var tool = Tool("systemd-analyze");
        if (tool is null)
        {
            output.WriteLine($"NOTE: systemd-analyze is not installed here; the exposure of {name} was not measured.");
            return;
        }
        var path = Staged(name);
        try
        {
            var (code, text) = await RunAsync(tool, "security", "--offline=yes", "--threshold=20", path);
            if (text.Contains("unrecognized option", StringComparison.Ordinal) || text.Contains("Unknown option", StringComparison.Ordinal))
            {
                output.WriteLine($"NOTE: this systemd-analyze cannot judge a unit file offline (systemd 250 or later can); {name} not measured.");
                return;
            }
            output.WriteLine(text.Split('\n').LastOrDefault(l => l.Contains("Overall exposure", StringComparison.Ordinal)) ?? "");
            Assert.True(code == 0, $"systemd-analyze security {name} rates it above 2.0 (exit {code}):\n{text}");
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
