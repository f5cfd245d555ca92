using System.Text;

namespace Smp.Cli.Client;

/// <summary>
/// Makes text from peers safe to print: a message could otherwise carry escape sequences that move the
/// cursor, rewrite earlier lines or change the terminal's title.
/// </summary>
internal static class TextSanitizer
{
    /// <summary>Decodes UTF-8 (invalid bytes become U+FFFD) and cleans it, keeping line breaks.</summary>
    public static string Clean(ReadOnlySpan<byte> utf8) => Clean(Encoding.UTF8.GetString(utf8), keepLineBreaks: true);

    /// <summary>Control characters (C0 but tab, DEL, C1) as <c>\xNN</c>; line breaks too unless kept.</summary>
    public static string Clean(string text, bool keepLineBreaks = false)
    {
        StringBuilder? sb = null;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            var bad = c is < ' ' and not '\t' or '\x7f' or (>= '\x80' and <= '\x9f');
            if (keepLineBreaks && c == '\n') bad = false;
            if (c == '\r' && keepLineBreaks && i + 1 < text.Length && text[i + 1] == '\n')
            {
                sb ??= new StringBuilder(text, 0, i, text.Length);
                continue;
            }
            if (!bad)
            {
                sb?.Append(c);
                continue;
            }
            sb ??= new StringBuilder(text, 0, i, text.Length + 8);
            sb.Append("\\x").Append(((int)c).ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
        }
        return sb?.ToString() ?? text;
    }
}
