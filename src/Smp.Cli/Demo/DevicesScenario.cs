using System.Text;
using Smp.Protocol.Agent;

namespace Smp.Cli.Demo;

/// <summary>
/// <c>smp demo devices</c>: one person's phone, laptop and tablet keep a profile in sync through a group,
/// including a device that was off while a change was made.
/// </summary>
internal static class DevicesScenario
{
    private const string Gid = "profile";

    /// <summary>A device's copy of the profile, changed only by the updates it receives or makes.</summary>
    private sealed class Device(Person person)
    {
        public Person Person { get; } = person;
        public SortedDictionary<string, string> Profile { get; } = new(StringComparer.Ordinal);

        public string Show() => string.Join(", ", Profile.Select(kv => $"{kv.Key}={kv.Value}"));

        public void Apply(string update)
        {
            var eq = update.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0) Profile[update[..eq]] = update[(eq + 1)..];
        }
    }

    public static async Task RunAsync(DemoWorld w)
    {
        var n = w.Narrator;
        n.Title("SMP demo: one person's phone, laptop and tablet keep a profile in sync");
        n.Say("Each device runs its own agent. They form a group; a change on one device is a group message to the others.");

        n.Step("Start an SMP relay server on loopback, and an agent per device.");
        await w.StartServerAsync().ConfigureAwait(false);
        var phone = new Device(await w.AddPersonAsync("phone").ConfigureAwait(false));
        var laptop = new Device(await w.AddPersonAsync("laptop").ConfigureAwait(false));
        var tablet = new Device(await w.AddPersonAsync("tablet").ConfigureAwait(false));
        Device[] all = [phone, laptop, tablet];

        await GroupScenario.ConnectAsync(n, phone.Person, laptop.Person).ConfigureAwait(false);
        await GroupScenario.ConnectAsync(n, phone.Person, tablet.Person).ConfigureAwait(false);

        n.Step("The phone creates the group 'profile' and adds the laptop and the tablet.");
        await phone.Person.CommandAsync(Gid, new AgentCommand.GNew(Encoding.UTF8.GetBytes("Alice's devices"))).ConfigureAwait(false);
        await GroupScenario.AddAsync(n, phone.Person, laptop.Person, [], Gid).ConfigureAwait(false);
        var (tabletToLaptop, laptopToTablet) = await GroupScenario.AddAsync(n, phone.Person, tablet.Person, [laptop.Person], Gid).ConfigureAwait(false);

        n.Step("Alice changes her name on the laptop. The update goes to the phone and the tablet.");
        await UpdateAsync(n, laptop, "name=Alice Liddell", (phone, "laptop"), (tablet, tabletToLaptop)).ConfigureAwait(false);
        ShowAll(n, all);

        n.Step("The tablet is switched off: its agent stops. Its queues stay on the relay.");
        await tablet.Person.StopAsync().ConfigureAwait(false);

        n.Step("While it is off, Alice sets an avatar on the phone. The laptop applies it; the tablet's copy waits on the relay.");
        await UpdateAsync(n, phone, "avatar=rabbit.png", (laptop, "phone")).ConfigureAwait(false);

        n.Step("The tablet is switched on again: its agent resumes from its store, the waiting update arrives and is applied.");
        await tablet.Person.StartAsync().ConfigureAwait(false);
        await tablet.Person.CommandAsync(Gid, new AgentCommand.Sub()).ConfigureAwait(false);
        await ApplyAsync(n, tablet, "phone", "avatar=rabbit.png").ConfigureAwait(false);
        ShowAll(n, all);

        n.Step("And the tablet can change the profile too: every device is equal in the group.");
        await UpdateAsync(n, tablet, "status=In Wonderland", (phone, "tablet"), (laptop, laptopToTablet)).ConfigureAwait(false);
        ShowAll(n, all);

        if (all.Select(d => d.Show()).Distinct().Count() != 1) throw new DemoStepException("the devices' profiles differ");
        n.Done("Every step happened: the three profiles are the same, including the device that was off.");
    }

    private static async Task UpdateAsync(Narrator n, Device from, string update, params (Device To, string FromAlias)[] to)
    {
        from.Apply(update);
        await from.Person.CommandAsync(Gid, new AgentCommand.GSend(Encoding.UTF8.GetBytes(update))).ConfigureAwait(false);
        foreach (var (device, alias) in to) await ApplyAsync(n, device, alias, update).ConfigureAwait(false);
    }

    private static async Task ApplyAsync(Narrator n, Device to, string fromAlias, string expected)
    {
        var msg = await GroupScenario.ReceiveGroupAsync(n, to.Person, fromAlias, expected, Gid).ConfigureAwait(false);
        to.Apply(Encoding.UTF8.GetString(msg.Body.Span));
    }

    private static void ShowAll(Narrator n, Device[] all)
    {
        foreach (var d in all) n.Say($"{d.Person.Name,-7} profile: {d.Show()}");
    }
}
