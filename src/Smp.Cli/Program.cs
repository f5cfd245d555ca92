using System.Collections;
using System.CommandLine;
using System.CommandLine.Help;
using Smp.Cli.Configuration;

namespace Smp.Cli;

/// <summary>
/// The <c>smp</c> tool: one subcommand per role, each built by its own static class. Exit codes
/// (docs/configuration.md): 0 done, 1 could not start or failed while running, 2 usage error (a bad or
/// missing option, variable or configuration file), 130 interrupted (the demo).
/// </summary>
public static class Program
{
    public const int ExitFailure = 1;
    public const int ExitUsage = 2;

    public static Task<int> Main(string[] args) => RunAsync(args, ProcessEnvironment(), Console.Out, Console.Error);

    internal static RootCommand CreateRoot() => new("SimpleX Messaging Protocol (SMP 0.3) tools")
    {
        OptionLayers.Enable(ServerCommand.Create()),
        OptionLayers.Enable(AgentHostCommand.Create()),
        OptionLayers.Enable(ClientCommand.Create()),
        Demo.DemoCommand.Create(),
    };

    /// <summary>The parse of a command line with environment and file values beneath it, or why there is none.</summary>
    internal sealed record Prepared(ParseResult Parse, IReadOnlyDictionary<Option, string> Sources, IReadOnlyList<string> LayerErrors);

    /// <summary>
    /// Parses <paramref name="args"/>, then again with the values of options it does not give taken from
    /// <paramref name="environment"/> and the configuration file (<see cref="OptionLayers"/>). --help skips both.
    /// </summary>
    internal static Prepared Prepare(RootCommand root, IReadOnlyList<string> args, IReadOnlyDictionary<string, string> environment)
    {
        var first = root.Parse(args);
        if (first.Action is HelpAction) return new Prepared(first, new Dictionary<Option, string>(), []);
        var layered = OptionLayers.Apply(first, args, environment);
        if (layered.Errors.Count > 0) return new Prepared(first, layered.Sources, layered.Errors);
        return new Prepared(root.Parse(layered.Args), layered.Sources, []);
    }

    internal static Task<int> RunAsync(IReadOnlyList<string> args, IReadOnlyDictionary<string, string> environment, TextWriter output, TextWriter error) =>
        RunAsync(CreateRoot(), args, environment, output, error);

    /// <summary>
    /// Runs a command line: usage errors are reported one line each (exit 2), then the command runs. Nothing
    /// reaches <paramref name="error"/> as a stack trace: a failure the command did not handle is one line, exit 1.
    /// </summary>
    internal static async Task<int> RunAsync(RootCommand root, IReadOnlyList<string> args, IReadOnlyDictionary<string, string> environment, TextWriter output, TextWriter error)
    {
        Prepared prepared;
        try
        {
            prepared = Prepare(root, args, environment);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A parser or check that throws is a bug, but still no reason for a stack trace.
            await error.WriteLineAsync($"smp: {CliErrors.OneLine(e.Message)}").ConfigureAwait(false);
            return ExitUsage;
        }
        var (parse, sources, layerErrors) = prepared;
        if (layerErrors.Count > 0)
        {
            foreach (var e in layerErrors) await error.WriteLineAsync($"{CommandPath(parse)}: {CliErrors.OneLine(e)}").ConfigureAwait(false);
            return ExitUsage;
        }
        if (parse.Errors.Count > 0 && parse.Action is not HelpAction)
        {
            // Several tokens can fail for one reason (a value missing shifts the rest): one line per distinct message.
            foreach (var line in parse.Errors.Select(e => CliErrors.Describe(e, sources)).Distinct(StringComparer.Ordinal))
                await error.WriteLineAsync($"{CommandPath(parse)}: {line}").ConfigureAwait(false);
            if (parse.Errors.Any(e => CliErrors.IsFromCommandLine(e, sources)))
                await error.WriteLineAsync($"'{CommandPath(parse)} --help' lists the options.").ConfigureAwait(false);
            return ExitUsage;
        }
        var invocation = new InvocationConfiguration
        {
            // Graceful shutdown on SIGTERM/Ctrl-C: the action's token is cancelled; give it time to close the files.
            ProcessTerminationTimeout = TimeSpan.FromSeconds(30),
            EnableDefaultExceptionHandler = false,
            Output = output,
            Error = error,
        };
        try
        {
            return await parse.InvokeAsync(invocation).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            await error.WriteLineAsync($"{CommandPath(parse)}: {CliErrors.OneLine(e.Message)}").ConfigureAwait(false);
            return ExitFailure;
        }
    }

    /// <summary><c>smp agent</c>: the root is always called smp, whatever the host process is called.</summary>
    private static string CommandPath(ParseResult parse)
    {
        var names = new List<string>();
        for (var r = parse.CommandResult; r is not null; r = r.Parent as System.CommandLine.Parsing.CommandResult)
            if (r.Parent is not null) names.Insert(0, r.Command.Name);
        return string.Join(' ', ["smp", .. names]);
    }

    private static Dictionary<string, string> ProcessEnvironment()
    {
        var result = new Dictionary<string, string>(OperatingSystem.IsWindows() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal);
        foreach (DictionaryEntry e in Environment.GetEnvironmentVariables())
            if (e.Key is string key && e.Value is string value) result[key] = value;
        return result;
    }
}
