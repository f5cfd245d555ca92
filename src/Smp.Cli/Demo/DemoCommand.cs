using System.CommandLine;

namespace Smp.Cli.Demo;

/// <summary><c>smp demo [devices]</c>: the whole system on loopback, narrated; exit 0 only if every step happened.</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Narration only, without the protocol lines." };
        var noColour = new Option<bool>("--no-color") { Description = "No colours (also when NO_COLOR is set or output is redirected)." };
        var keyBits = new Option<int>("--key-bits")
        {
            Description = "Size of the agents' queue and signing keys (1024 is quicker; end-to-end keys stay 2048).",
            DefaultValueFactory = _ => 2048,
            HelpName = "bits",
        };
        keyBits.AcceptOnlyFromAmong("1024", "2048");

        var command = new Command("demo", "Run an embedded relay and three agents on loopback and show them connect, form a group, talk, leave and remove. Cleans up after itself.")
        {
            quiet, noColour, keyBits,
        };
        command.SetAction((parse, ct) => RunAsync(GroupScenario.RunAsync, parse.GetValue(quiet), parse.GetValue(noColour), parse.GetValue(keyBits), ct));

        var devices = new Command("devices", "One person's three devices keep a profile in sync through a group, one of them offline for a while.")
        {
            quiet, noColour, keyBits,
        };
        devices.SetAction((parse, ct) => RunAsync(DevicesScenario.RunAsync, parse.GetValue(quiet), parse.GetValue(noColour), parse.GetValue(keyBits), ct));
        command.Subcommands.Add(devices);
        return command;
    }

    private static async Task<int> RunAsync(Func<DemoWorld, Task> scenario, bool quiet, bool noColour, int keyBits, CancellationToken ct)
    {
        var colour = !noColour && !Console.IsOutputRedirected && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"));
        var narrator = new Narrator(Console.Out, quiet, colour);
        var world = new DemoWorld(narrator, keyBits);
        try
        {
            await scenario(world).WaitAsync(ct).ConfigureAwait(false);
            return 0;
        }
        catch (DemoStepException e)
        {
            narrator.Fail($"The demo stopped: {e.Message}");
            return 1;
        }
        catch (OperationCanceledException)
        {
            narrator.Fail("The demo was interrupted.");
            return 130;
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or InvalidOperationException)
        {
            narrator.Fail($"The demo failed: {e.Message}");
            return 1;
        }
        finally
        {
            await world.DisposeAsync().ConfigureAwait(false);
        }
    }
}
