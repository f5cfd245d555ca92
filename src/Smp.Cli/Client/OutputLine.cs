namespace Smp.Cli.Client;

/// <summary>How a line is shown; the colour each gets is in <see cref="OutputLine.Render"/>.</summary>
internal enum LineStyle
{
    Plain,
    /// <summary>A received message: its <c>[name]</c> prefix stands out.</summary>
    Message,
    /// <summary>Our own message, once the agent took it.</summary>
    Sent,
    Info,
    Success,
    Warning,
    Error,
    /// <summary>Protocol detail: raw answers, the wire view.</summary>
    Dim,
}

/// <summary>One line for the person; <see cref="PrefixLength"/> characters of a message line are its sender.</summary>
internal readonly record struct OutputLine(LineStyle Style, string Text, int PrefixLength = 0)
{
    private const string Reset = "\e[0m";

    /// <summary>The text, with ANSI colour when <paramref name="color"/> (only ever for a terminal).</summary>
    public string Render(bool color)
    {
        if (!color) return Text;
        return Style switch
        {
            LineStyle.Plain => Text,
            LineStyle.Message when PrefixLength > 0 && PrefixLength <= Text.Length => $"\e[1;36m{Text[..PrefixLength]}{Reset}{Text[PrefixLength..]}",
            LineStyle.Message => Text,
            LineStyle.Sent => $"\e[2;36m{Text}{Reset}",
            LineStyle.Info => $"\e[36m{Text}{Reset}",
            LineStyle.Success => $"\e[32m{Text}{Reset}",
            LineStyle.Warning => $"\e[33m{Text}{Reset}",
            LineStyle.Error => $"\e[1;31m{Text}{Reset}",
            LineStyle.Dim => $"\e[2m{Text}{Reset}",
            _ => Text,
        };
    }
}
