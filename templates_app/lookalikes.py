"""Twilio's Smart Encoding table: the 271 characters a Twilio Messaging Service with Smart Encoding
on replaces by GSM 03.38 characters, and what each becomes. Data only: `encoding.optimize_text`
applies it (SPEC §6).

Transcribed from Twilio's calculator (npm `sms-segments-calculator` 1.3.0, its SmartEncodingMap:
Twilio's own emulation of the feature), quirks included, because the parts must be counted as the
provider counts them: a no-break space and the other wide spaces (U+2000, U+2002–U+200A, U+202F,
U+205F, U+3000) become two spaces, a tab seven, `‹ ›` become `< >` and `‚` a comma; some controls
vanish. Not in the table, so never replaced: the zero-width joiner (it holds emoji sequences
together), ç and every other letter (SPEC §6: smart encoding never changes a letter), fractions
other than ¼ ½ ¾, full-width small letters. tests/templates_app/test_twilio_oracle.py checks this
table against the calculator's own.
"""

from __future__ import annotations

SMART_ENCODING: dict[str, str] = {
    "\u0000": "",  # null
    "\u0003": "",  # end of text
    "\u0004": "",  # end of transmission
    "\u0009": "       ",  # tab
    "\u0010": "",  # data link escape
    "\u0011": "",  # device control one
    "\u0012": "",  # device control two
    "\u0013": "",  # device control three
    "\u0014": "",  # device control four
    "\u0017": "",  # end of transmission block
    "\u0019": "",  # end of medium
    "\u0060": "'",  # ` grave accent
    "\u0080": "  ",  # C1 control U+0080
    "\u008d": "  ",  # reverse line feed
    "\u0090": "  ",  # device control string
    "\u009b": "  ",  # control sequence introducer
    "\u009f": "  ",  # application program command
    "\u00a0": "  ",  # no-break space
    "\u00ab": '"',  # « left-pointing double angle quotation mark
    "\u00b4": "'",  # ´ acute accent
    "\u00bb": '"',  # » right-pointing double angle quotation mark
    "\u00bc": "1/4",  # ¼ vulgar fraction one quarter
    "\u00bd": "1/2",  # ½ vulgar fraction one half
    "\u00be": "3/4",  # ¾ vulgar fraction three quarters
    "\u00f7": "/",  # ÷ division sign
    "\u01c3": "!",  # ǃ latin letter retroflex click
    "\u0262": "G",  # ɢ latin letter small capital g
    "\u026a": "I",  # ɪ latin letter small capital i
    "\u0274": "N",  # ɴ latin letter small capital n
    "\u0280": "R",  # ʀ latin letter small capital r
    "\u028f": "Y",  # ʏ latin letter small capital y
    "\u0299": "B",  # ʙ latin letter small capital b
    "\u029c": "H",  # ʜ latin letter small capital h
    "\u029f": "L",  # ʟ latin letter small capital l
    "\u02b9": "'",  # ʹ modifier letter prime
    "\u02ba": '"',  # ʺ modifier letter double prime
    "\u02bb": "'",  # ʻ modifier letter turned comma
    "\u02bc": "'",  # ʼ modifier letter apostrophe
    "\u02bd": "'",  # ʽ modifier letter reversed comma
    "\u02c6": "^",  # ˆ modifier letter circumflex accent
    "\u02c8": "'",  # ˈ modifier letter vertical line
    "\u02ca": "'",  # ˊ modifier letter acute accent
    "\u02cb": "'",  # ˋ modifier letter grave accent
    "\u02d0": ":",  # ː modifier letter triangular colon
    "\u02d6": "+",  # ˖ modifier letter plus sign
    "\u02dc": "~",  # ˜ small tilde
    "\u02ee": '"',  # ˮ modifier letter double apostrophe
    "\u02f7": "~",  # ˷ modifier letter low tilde
    "\u02f8": ":",  # ˸ modifier letter raised colon
    "\u0302": "^",  # combining circumflex accent
    "\u0303": "~",  # combining tilde
    "\u0313": "'",  # combining comma above
    "\u0314": "'",  # combining reversed comma above
    "\u0326": ",",  # combining comma below
    "\u0330": "~",  # combining tilde below
    "\u0332": "_",  # combining low line
    "\u0334": "~",  # combining tilde overlay
    "\u0337": "/",  # combining short solidus overlay
    "\u0338": "/",  # combining long solidus overlay
    "\u0347": "=",  # combining equals sign below
    "\u1d00": "A",  # ᴀ latin letter small capital a
    "\u1d04": "C",  # ᴄ latin letter small capital c
    "\u1d05": "D",  # ᴅ latin letter small capital d
    "\u1d07": "E",  # ᴇ latin letter small capital e
    "\u1d0a": "J",  # ᴊ latin letter small capital j
    "\u1d0b": "K",  # ᴋ latin letter small capital k
    "\u1d0d": "M",  # ᴍ latin letter small capital m
    "\u1d0f": "O",  # ᴏ latin letter small capital o
    "\u1d18": "P",  # ᴘ latin letter small capital p
    "\u1d1b": "T",  # ᴛ latin letter small capital t
    "\u1d1c": "U",  # ᴜ latin letter small capital u
    "\u1d20": "V",  # ᴠ latin letter small capital v
    "\u1d21": "W",  # ᴡ latin letter small capital w
    "\u1d22": "Z",  # ᴢ latin letter small capital z
    "\u1dcd": "^",  # combining double circumflex above
    "\u2000": "  ",  # en quad
    "\u2001": " ",  # em quad
    "\u2002": "  ",  # en space
    "\u2003": "  ",  # em space
    "\u2004": "  ",  # three-per-em space
    "\u2005": "  ",  # four-per-em space
    "\u2006": "  ",  # six-per-em space
    "\u2007": "  ",  # figure space
    "\u2008": "  ",  # punctuation space
    "\u2009": "  ",  # thin space
    "\u200a": "  ",  # hair space
    "\u200b": "",  # zero width space
    "\u200c": "",  # zero width non-joiner
    "\u2010": "-",  # ‐ hyphen
    "\u2013": "-",  # – en dash
    "\u2014": "-",  # — em dash
    "\u2015": "-",  # ― horizontal bar
    "\u2017": "_",  # ‗ double low line
    "\u2018": "'",  # ‘ left single quotation mark
    "\u2019": "'",  # ’ right single quotation mark
    "\u201a": ",",  # ‚ single low-9 quotation mark
    "\u201b": "'",  # ‛ single high-reversed-9 quotation mark
    "\u201c": '"',  # “ left double quotation mark
    "\u201d": '"',  # ” right double quotation mark
    "\u201e": '"',  # „ double low-9 quotation mark
    "\u201f": '"',  # ‟ double high-reversed-9 quotation mark
    "\u2022": "-",  # • bullet
    "\u2026": "...",  # … horizontal ellipsis
    "\u2028": " ",  # line separator
    "\u2029": " ",  # paragraph separator
    "\u202f": "  ",  # narrow no-break space
    "\u2039": "<",  # ‹ single left-pointing angle quotation mark
    "\u203a": ">",  # › single right-pointing angle quotation mark
    "\u203c": "!!",  # ‼ double exclamation mark
    "\u2043": "-",  # ⁃ hyphen bullet
    "\u2044": "/",  # ⁄ fraction slash
    "\u204e": "*",  # ⁎ low asterisk
    "\u204f": ";",  # ⁏ reversed semicolon
    "\u205f": "  ",  # medium mathematical space
    "\u2060": "",  # word joiner
    "\u20d2": "|",  # combining long vertical line overlay
    "\u20d3": "|",  # combining short vertical line overlay
    "\u20e5": "\\",  # combining reverse solidus overlay
    "\u2215": "/",  # ∕ division slash
    "\u2217": "*",  # ∗ asterisk operator
    "\u2223": "|",  # ∣ divides
    "\u223c": "~",  # ∼ tilde operator
    "\u229b": "*",  # ⊛ circled asterisk operator
    "\u239c": "|",  # ⎜ left parenthesis extension
    "\u239f": "|",  # ⎟ right parenthesis extension
    "\u23b8": "|",  # ⎸ left vertical box line
    "\u23b9": "|",  # ⎹ right vertical box line
    "\u23bc": "-",  # ⎼ horizontal scan line-7
    "\u23bd": "-",  # ⎽ horizontal scan line-9
    "\u23d0": "|",  # ⏐ vertical line extension
    "\u2722": "*",  # ✢ four teardrop-spoked asterisk
    "\u2723": "*",  # ✣ four balloon-spoked asterisk
    "\u2724": "*",  # ✤ heavy four balloon-spoked asterisk
    "\u2725": "*",  # ✥ four club-spoked asterisk
    "\u2731": "*",  # ✱ heavy asterisk
    "\u2732": "*",  # ✲ open centre asterisk
    "\u2733": "*",  # ✳ eight spoked asterisk
    "\u273a": "*",  # ✺ sixteen pointed asterisk
    "\u273b": "*",  # ✻ teardrop-spoked asterisk
    "\u273c": "*",  # ✼ open centre teardrop-spoked asterisk
    "\u273d": "*",  # ✽ heavy teardrop-spoked asterisk
    "\u2743": "*",  # ❃ heavy teardrop-spoked pinwheel asterisk
    "\u2749": "*",  # ❉ balloon-spoked asterisk
    "\u274a": "*",  # ❊ eight teardrop-spoked propeller asterisk
    "\u274b": "*",  # ❋ heavy eight teardrop-spoked propeller asterisk
    "\u275b": "'",  # ❛ heavy single turned comma quotation mark ornament
    "\u275c": "'",  # ❜ heavy single comma quotation mark ornament
    "\u275d": '"',  # ❝ heavy double turned comma quotation mark ornament
    "\u275e": '"',  # ❞ heavy double comma quotation mark ornament
    "\u2768": "(",  # ❨ medium left parenthesis ornament
    "\u2769": ")",  # ❩ medium right parenthesis ornament
    "\u276a": "(",  # ❪ medium flattened left parenthesis ornament
    "\u276b": ")",  # ❫ medium flattened right parenthesis ornament
    "\u2774": "{",  # ❴ medium left curly bracket ornament
    "\u2775": "}",  # ❵ medium right curly bracket ornament
    "\u27ee": "(",  # ⟮ mathematical left flattened parenthesis
    "\u27ef": ")",  # ⟯ mathematical right flattened parenthesis
    "\u2982": ":",  # ⦂ z notation type colon
    "\u2985": "(",  # ⦅ left white parenthesis
    "\u2986": ")",  # ⦆ right white parenthesis
    "\u29c6": "*",  # ⧆ squared asterisk
    "\u29f5": "\\",  # ⧵ reverse solidus operator
    "\u29f8": "/",  # ⧸ big solidus
    "\u29f9": "\\",  # ⧹ big reverse solidus
    "\u3000": "  ",  # ideographic space
    "\u3001": ",",  # 、 ideographic comma
    "\u3002": ".",  # 。 ideographic full stop
    "\u301d": '"',  # 〝 reversed double prime quotation mark
    "\u301e": '"',  # 〞 double prime quotation mark
    "\ua730": "F",  # ꜰ latin letter small capital f
    "\ua731": "S",  # ꜱ latin letter small capital s
    "\ua789": ":",  # ꞉ modifier letter colon
    "\ua78a": "=",  # ꞊ modifier letter short equals sign
    "\ufe10": "'",  # ︐ presentation form for vertical comma
    "\ufe11": "'",  # ︑ presentation form for vertical ideographic comma
    "\ufe13": ":",  # ︓ presentation form for vertical colon
    "\ufe14": ";",  # ︔ presentation form for vertical semicolon
    "\ufe15": "!",  # ︕ presentation form for vertical exclamation mark
    "\ufe16": "?",  # ︖ presentation form for vertical question mark
    "\ufe50": ",",  # ﹐ small comma
    "\ufe51": ",",  # ﹑ small ideographic comma
    "\ufe52": ".",  # ﹒ small full stop
    "\ufe54": ";",  # ﹔ small semicolon
    "\ufe56": "?",  # ﹖ small question mark
    "\ufe57": "!",  # ﹗ small exclamation mark
    "\ufe59": "(",  # ﹙ small left parenthesis
    "\ufe5a": ")",  # ﹚ small right parenthesis
    "\ufe5b": "{",  # ﹛ small left curly bracket
    "\ufe5c": "}",  # ﹜ small right curly bracket
    "\ufe5f": "#",  # ﹟ small number sign
    "\ufe60": "&",  # ﹠ small ampersand
    "\ufe61": "*",  # ﹡ small asterisk
    "\ufe62": "+",  # ﹢ small plus sign
    "\ufe63": "-",  # ﹣ small hyphen-minus
    "\ufe64": "<",  # ﹤ small less-than sign
    "\ufe65": ">",  # ﹥ small greater-than sign
    "\ufe66": "=",  # ﹦ small equals sign
    "\ufe68": "\\",  # ﹨ small reverse solidus
    "\ufe69": "$",  # ﹩ small dollar sign
    "\ufe6a": "%",  # ﹪ small percent sign
    "\ufe6b": "@",  # ﹫ small commercial at
    "\ufeff": "",  # zero width no-break space
    "\uff01": "!",  # ！ fullwidth exclamation mark
    "\uff02": '"',  # ＂ fullwidth quotation mark
    "\uff03": "#",  # ＃ fullwidth number sign
    "\uff04": "$",  # ＄ fullwidth dollar sign
    "\uff05": "%",  # ％ fullwidth percent sign
    "\uff06": "&",  # ＆ fullwidth ampersand
    "\uff07": "'",  # ＇ fullwidth apostrophe
    "\uff08": "(",  # （ fullwidth left parenthesis
    "\uff09": ")",  # ） fullwidth right parenthesis
    "\uff0a": "*",  # ＊ fullwidth asterisk
    "\uff0b": "+",  # ＋ fullwidth plus sign
    "\uff0c": ",",  # ， fullwidth comma
    "\uff0d": "-",  # － fullwidth hyphen-minus
    "\uff0e": ".",  # ． fullwidth full stop
    "\uff0f": "/",  # ／ fullwidth solidus
    "\uff10": "0",  # ０ fullwidth digit zero
    "\uff11": "1",  # １ fullwidth digit one
    "\uff12": "2",  # ２ fullwidth digit two
    "\uff13": "3",  # ３ fullwidth digit three
    "\uff14": "4",  # ４ fullwidth digit four
    "\uff15": "5",  # ５ fullwidth digit five
    "\uff16": "6",  # ６ fullwidth digit six
    "\uff17": "7",  # ７ fullwidth digit seven
    "\uff18": "8",  # ８ fullwidth digit eight
    "\uff19": "9",  # ９ fullwidth digit nine
    "\uff1a": ":",  # ： fullwidth colon
    "\uff1b": ";",  # ； fullwidth semicolon
    "\uff1c": "<",  # ＜ fullwidth less-than sign
    "\uff1d": "=",  # ＝ fullwidth equals sign
    "\uff1e": ">",  # ＞ fullwidth greater-than sign
    "\uff1f": "?",  # ？ fullwidth question mark
    "\uff20": "@",  # ＠ fullwidth commercial at
    "\uff21": "A",  # Ａ fullwidth latin capital letter a
    "\uff22": "B",  # Ｂ fullwidth latin capital letter b
    "\uff23": "C",  # Ｃ fullwidth latin capital letter c
    "\uff24": "D",  # Ｄ fullwidth latin capital letter d
    "\uff25": "E",  # Ｅ fullwidth latin capital letter e
    "\uff26": "F",  # Ｆ fullwidth latin capital letter f
    "\uff27": "G",  # Ｇ fullwidth latin capital letter g
    "\uff28": "H",  # Ｈ fullwidth latin capital letter h
    "\uff29": "I",  # Ｉ fullwidth latin capital letter i
    "\uff2a": "J",  # Ｊ fullwidth latin capital letter j
    "\uff2b": "K",  # Ｋ fullwidth latin capital letter k
    "\uff2c": "L",  # Ｌ fullwidth latin capital letter l
    "\uff2d": "M",  # Ｍ fullwidth latin capital letter m
    "\uff2e": "N",  # Ｎ fullwidth latin capital letter n
    "\uff2f": "O",  # Ｏ fullwidth latin capital letter o
    "\uff30": "P",  # Ｐ fullwidth latin capital letter p
    "\uff31": "Q",  # Ｑ fullwidth latin capital letter q
    "\uff32": "R",  # Ｒ fullwidth latin capital letter r
    "\uff33": "S",  # Ｓ fullwidth latin capital letter s
    "\uff34": "T",  # Ｔ fullwidth latin capital letter t
    "\uff35": "U",  # Ｕ fullwidth latin capital letter u
    "\uff36": "V",  # Ｖ fullwidth latin capital letter v
    "\uff37": "W",  # Ｗ fullwidth latin capital letter w
    "\uff38": "X",  # Ｘ fullwidth latin capital letter x
    "\uff39": "Y",  # Ｙ fullwidth latin capital letter y
    "\uff3a": "Z",  # Ｚ fullwidth latin capital letter z
    "\uff3b": "[",  # ［ fullwidth left square bracket
    "\uff3c": "\\",  # ＼ fullwidth reverse solidus
    "\uff3d": "]",  # ］ fullwidth right square bracket
    "\uff3e": "^",  # ＾ fullwidth circumflex accent
    "\uff3f": "_",  # ＿ fullwidth low line
    "\uff5b": "{",  # ｛ fullwidth left curly bracket
    "\uff5c": "|",  # ｜ fullwidth vertical line
    "\uff5d": "}",  # ｝ fullwidth right curly bracket
    "\uff5e": "~",  # ～ fullwidth tilde
    "\uff61": ".",  # ｡ halfwidth ideographic full stop
    "\uff64": ",",  # ､ halfwidth ideographic comma
}
