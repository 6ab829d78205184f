"""Native XLSX bar charts (DrawingML) for the Summary sheet: Excel and LibreOffice draw them.

A chart points at cells of its sheet (``'Summary'!$A$14:$A$25`` for the labels, ``$B$...`` for
the values) and carries a cache of those values, so a reader that does not recalculate still
draws it. The XML follows what XlsxWriter writes for a bar chart (a shape Excel users have
opened for years), reduced to what these charts use: one series, one colour per bar, no legend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from batch.reporting.xlsx_stream import (
    CT_CHART,
    CT_DRAWING,
    REL_CHART,
    REL_DRAWING,
    Part,
    clean_text,
    rels_xml,
)

NS_C = "http://schemas.openxmlformats.org/drawingml/2006/chart"
NS_A = "http://schemas.openxmlformats.org/drawingml/2006/main"
NS_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
NS_XDR = "http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing"
_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def _esc(text: str) -> str:
    return (
        clean_text(text)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
    )


def _sheet_ref(sheet: str, column: str, first: int, last: int) -> str:
    quoted = "'" + sheet.replace("'", "''") + "'"
    return f"{quoted}!${column}${first}:${column}${last}"


@dataclass(frozen=True, slots=True)
class BarChart:
    """One horizontal bar chart over rows ``first``..``last`` (1-based) of ``sheet``: labels in
    ``label_column``, values in ``value_column``; ``labels``/``values`` are those cells' values
    (the chart's cache) and ``colours`` one ``RRGGBB`` per bar (None: the default colour)."""

    title: str
    sheet: str
    first: int
    last: int
    labels: Sequence[str]
    values: Sequence[int]
    colours: Sequence[str | None] = ()
    label_column: str = "A"
    value_column: str = "B"
    series_name: str = "Rows"

    @property
    def categories_ref(self) -> str:
        return _sheet_ref(self.sheet, self.label_column, self.first, self.last)

    @property
    def values_ref(self) -> str:
        return _sheet_ref(self.sheet, self.value_column, self.first, self.last)


def chart_xml(chart: BarChart) -> str:
    """The chart part (``xl/charts/chartN.xml``)."""
    n = len(chart.labels)
    points = "".join(
        f'<c:dPt><c:idx val="{i}"/><c:invertIfNegative val="0"/><c:bubble3D val="0"/>'
        f'<c:spPr><a:solidFill><a:srgbClr val="{colour}"/></a:solidFill>'
        '<a:ln><a:solidFill><a:srgbClr val="808080"/></a:solidFill></a:ln></c:spPr></c:dPt>'
        for i, colour in enumerate(chart.colours)
        if colour
    )
    cats = "".join(
        f'<c:pt idx="{i}"><c:v>{_esc(label)}</c:v></c:pt>' for i, label in enumerate(chart.labels)
    )
    vals = "".join(
        f'<c:pt idx="{i}"><c:v>{int(v)}</c:v></c:pt>' for i, v in enumerate(chart.values)
    )
    title = (
        '<c:title><c:tx><c:rich><a:bodyPr/><a:lstStyle/><a:p><a:pPr><a:defRPr b="1"/></a:pPr>'
        f'<a:r><a:rPr lang="en-US" b="1"/><a:t>{_esc(chart.title)}</a:t></a:r></a:p></c:rich>'
        '</c:tx><c:overlay val="0"/></c:title>'
    )
    return (
        f'{_XML}<c:chartSpace xmlns:c="{NS_C}" xmlns:a="{NS_A}" xmlns:r="{NS_R}">'
        '<c:lang val="en-US"/><c:roundedCorners val="0"/><c:chart>'
        f'{title}<c:autoTitleDeleted val="0"/><c:plotArea><c:layout/><c:barChart>'
        '<c:barDir val="bar"/><c:grouping val="clustered"/><c:varyColors val="0"/>'
        f'<c:ser><c:idx val="0"/><c:order val="0"/><c:tx><c:v>{_esc(chart.series_name)}</c:v>'
        '</c:tx><c:invertIfNegative val="0"/>'
        f"{points}"
        '<c:dLbls><c:showLegendKey val="0"/><c:showVal val="1"/><c:showCatName val="0"/>'
        '<c:showSerName val="0"/><c:showPercent val="0"/><c:showBubbleSize val="0"/></c:dLbls>'
        f"<c:cat><c:strRef><c:f>{_esc(chart.categories_ref)}</c:f><c:strCache>"
        f'<c:ptCount val="{n}"/>{cats}</c:strCache></c:strRef></c:cat>'
        f"<c:val><c:numRef><c:f>{_esc(chart.values_ref)}</c:f><c:numCache>"
        f'<c:formatCode>General</c:formatCode><c:ptCount val="{n}"/>{vals}</c:numCache>'
        "</c:numRef></c:val></c:ser>"
        '<c:gapWidth val="60"/><c:axId val="50010001"/><c:axId val="50010002"/></c:barChart>'
        # Categories top to bottom in sheet order (a bar chart draws the first at the bottom).
        '<c:catAx><c:axId val="50010001"/><c:scaling><c:orientation val="maxMin"/></c:scaling>'
        '<c:delete val="0"/><c:axPos val="l"/><c:numFmt formatCode="General" sourceLinked="0"/>'
        '<c:tickLblPos val="nextTo"/><c:crossAx val="50010002"/><c:crosses val="autoZero"/>'
        '<c:auto val="1"/><c:lblAlgn val="ctr"/><c:lblOffset val="100"/></c:catAx>'
        '<c:valAx><c:axId val="50010002"/><c:scaling><c:orientation val="minMax"/></c:scaling>'
        '<c:delete val="0"/><c:axPos val="b"/><c:majorGridlines/>'
        '<c:numFmt formatCode="#,##0" sourceLinked="0"/><c:tickLblPos val="nextTo"/>'
        '<c:crossAx val="50010001"/><c:crosses val="autoZero"/><c:crossBetween val="between"/>'
        '</c:valAx></c:plotArea><c:plotVisOnly val="1"/><c:dispBlanksAs val="gap"/>'
        "</c:chart></c:chartSpace>"
    )


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where a chart sits: from the top-left cell (0-based column, row) to the bottom-right."""

    col: int
    row: int
    to_col: int
    to_row: int


def _anchor_xml(anchor: Anchor, rid: str, shape_id: int) -> str:
    return (
        "<xdr:twoCellAnchor>"
        f"<xdr:from><xdr:col>{anchor.col}</xdr:col><xdr:colOff>0</xdr:colOff>"
        f"<xdr:row>{anchor.row}</xdr:row><xdr:rowOff>0</xdr:rowOff></xdr:from>"
        f"<xdr:to><xdr:col>{anchor.to_col}</xdr:col><xdr:colOff>0</xdr:colOff>"
        f"<xdr:row>{anchor.to_row}</xdr:row><xdr:rowOff>0</xdr:rowOff></xdr:to>"
        '<xdr:graphicFrame macro="">'
        f'<xdr:nvGraphicFramePr><xdr:cNvPr id="{shape_id}" name="Chart {shape_id - 1}"/>'
        "<xdr:cNvGraphicFramePr/></xdr:nvGraphicFramePr>"
        '<xdr:xfrm><a:off x="0" y="0"/><a:ext cx="0" cy="0"/></xdr:xfrm>'
        f'<a:graphic><a:graphicData uri="{NS_C}">'
        f'<c:chart xmlns:c="{NS_C}" xmlns:r="{NS_R}" r:id="{rid}"/>'
        "</a:graphicData></a:graphic></xdr:graphicFrame><xdr:clientData/></xdr:twoCellAnchor>"
    )


def chart_parts(sheet_number: int, charts: Sequence[tuple[BarChart, Anchor]]) -> list[Part]:
    """Every part that puts ``charts`` on worksheet ``sheet_number`` (1-based): the sheet's
    relationships (its drawing is ``rId1``: end the sheet with ``drawing="rId1"``), the drawing
    with one anchor per chart, the drawing's relationships, and the charts."""
    drawing = f"xl/drawings/drawing{sheet_number}.xml"
    anchors = "".join(
        _anchor_xml(anchor, f"rId{i}", i + 1) for i, (_, anchor) in enumerate(charts, start=1)
    )
    parts = [
        Part(
            f"xl/worksheets/_rels/sheet{sheet_number}.xml.rels",
            rels_xml([(REL_DRAWING, f"../drawings/drawing{sheet_number}.xml")]),
        ),
        Part(
            drawing,
            f'{_XML}<xdr:wsDr xmlns:xdr="{NS_XDR}" xmlns:a="{NS_A}">{anchors}</xdr:wsDr>',
            CT_DRAWING,
        ),
        Part(
            f"xl/drawings/_rels/drawing{sheet_number}.xml.rels",
            rels_xml([(REL_CHART, f"../charts/chart{i}.xml") for i in range(1, len(charts) + 1)]),
        ),
    ]
    parts += [
        Part(f"xl/charts/chart{i}.xml", chart_xml(chart), CT_CHART)
        for i, (chart, _) in enumerate(charts, start=1)
    ]
    return parts
