namespace Smp.Cli.Demo;

/// <summary>
/// What the demo says: a plain sentence per step and, unless quiet, the protocol lines underneath.
/// Colour only on a terminal, and never with NO_COLOR set.
/// </summary>
internal sealed class Narrator(TextWriter output, bool quiet, bool colour)
{
    private readonly Lock _lock = new();
    private int _step;

    public bool Quiet { get; } = quiet;

    private string Paint(string code, string text) => colour ? $"\u001b[{code}m{text}\u001b[0m" : text;

    public void Title(string text)
    {
        lock (_lock) output.WriteLine(Paint("1", text));
    }

    public void Step(string text)
    {
        lock (_lock)
        {
            output.WriteLine();
            output.WriteLine(Paint("1;36", $"{++_step,2}. ") + text);
        }
    }

    public void Say(string text)
    {
        lock (_lock) output.WriteLine("    " + text);
    }

    public void Done(string text)
    {
        lock (_lock)
        {
            output.WriteLine();
            output.WriteLine(Paint("1;32", text));
        }
    }

    public void Fail(string text)
    {
        lock (_lock) output.WriteLine(Paint("1;31", text));
    }

    /// <summary>One transmission as it went over a client connection: <c>who &gt;</c> sent, <c>who &lt;</c> received.</summary>
    public void Wire(string who, bool sent, string transmission)
    {
        if (Quiet) return;
        var lines = transmission.Replace("\r\n", "\n", StringComparison.Ordinal).TrimEnd('\n').Split('\n');
        // corrId, alias, command (and a body): shown on one line as the client protocol's three fields.
        var shown = lines.Length >= 3
            ? $"{lines[0],-3} {lines[1],-12} {string.Join(" ⏎ ", lines.Skip(2))}"
            : string.Join(" ⏎ ", lines);
        if (shown.Length > 150) shown = shown[..147] + "...";
        lock (_lock) output.WriteLine(Paint("2", $"      {who,-7}{(sent ? " >" : " <")} {shown}"));
    }
}
